import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("id", "organizer_id", "title", "description", "start_time", "end_time", "time_zone", "city", "venue", "capacity", "seats_taken", "seats_available", "max_seats_per_booking", "tags", "requires_approval", "state", "rating_average", "rating_count", "etag", "create_time", "update_time", "price", "refund_policy", "payment_hold")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Event.State]
        SCHEDULED: _ClassVar[Event.State]
        CANCELLED: _ClassVar[Event.State]
        COMPLETED: _ClassVar[Event.State]
    STATE_UNSPECIFIED: Event.State
    SCHEDULED: Event.State
    CANCELLED: Event.State
    COMPLETED: Event.State
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    VENUE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SEATS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    MAX_SEATS_PER_BOOKING_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RATING_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    RATING_COUNT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    REFUND_POLICY_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_HOLD_FIELD_NUMBER: _ClassVar[int]
    id: str
    organizer_id: str
    title: str
    description: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    time_zone: str
    city: str
    venue: str
    capacity: int
    seats_taken: int
    seats_available: int
    max_seats_per_booking: int
    tags: _containers.RepeatedScalarFieldContainer[str]
    requires_approval: bool
    state: Event.State
    rating_average: float
    rating_count: int
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    price: _money_pb2.Money
    refund_policy: RefundPolicy
    payment_hold: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_zone: _Optional[str] = ..., city: _Optional[str] = ..., venue: _Optional[str] = ..., capacity: _Optional[int] = ..., seats_taken: _Optional[int] = ..., seats_available: _Optional[int] = ..., max_seats_per_booking: _Optional[int] = ..., tags: _Optional[_Iterable[str]] = ..., requires_approval: _Optional[bool] = ..., state: _Optional[_Union[Event.State, str]] = ..., rating_average: _Optional[float] = ..., rating_count: _Optional[int] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refund_policy: _Optional[_Union[RefundPolicy, _Mapping]] = ..., payment_hold: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RefundPolicy(_message.Message):
    __slots__ = ("full_refund_until_hours_before_start",)
    FULL_REFUND_UNTIL_HOURS_BEFORE_START_FIELD_NUMBER: _ClassVar[int]
    full_refund_until_hours_before_start: int
    def __init__(self, full_refund_until_hours_before_start: _Optional[int] = ...) -> None: ...

class CreateEventRequest(_message.Message):
    __slots__ = ("event", "request_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event: Event
    request_id: str
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetEventRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    def __init__(self, event_id: _Optional[str] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "city", "tags", "state", "start_time_after", "start_time_before", "has_available_seats", "min_rating", "organizer_id", "query", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_AFTER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_BEFORE_FIELD_NUMBER: _ClassVar[int]
    HAS_AVAILABLE_SEATS_FIELD_NUMBER: _ClassVar[int]
    MIN_RATING_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    city: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    state: Event.State
    start_time_after: _timestamp_pb2.Timestamp
    start_time_before: _timestamp_pb2.Timestamp
    has_available_seats: bool
    min_rating: float
    organizer_id: str
    query: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., city: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[Event.State, str]] = ..., start_time_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., has_available_seats: _Optional[bool] = ..., min_rating: _Optional[float] = ..., organizer_id: _Optional[str] = ..., query: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateEventRequest(_message.Message):
    __slots__ = ("event", "update_mask")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    event: Event
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteEventRequest(_message.Message):
    __slots__ = ("event_id", "etag")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    etag: str
    def __init__(self, event_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class CancelEventRequest(_message.Message):
    __slots__ = ("event_id", "reason")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    reason: str
    def __init__(self, event_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Tag(_message.Message):
    __slots__ = ("name", "event_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    event_count: int
    def __init__(self, name: _Optional[str] = ..., event_count: _Optional[int] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("tags", "next_page_token")
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedCompositeFieldContainer[Tag]
    next_page_token: str
    def __init__(self, tags: _Optional[_Iterable[_Union[Tag, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("id", "event_id", "booking_id", "author_id", "event_rating", "host_rating", "comment", "create_time", "author_name")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_RATING_FIELD_NUMBER: _ClassVar[int]
    HOST_RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_id: str
    booking_id: str
    author_id: str
    event_rating: int
    host_rating: int
    comment: str
    create_time: _timestamp_pb2.Timestamp
    author_name: str
    def __init__(self, id: _Optional[str] = ..., event_id: _Optional[str] = ..., booking_id: _Optional[str] = ..., author_id: _Optional[str] = ..., event_rating: _Optional[int] = ..., host_rating: _Optional[int] = ..., comment: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author_name: _Optional[str] = ...) -> None: ...

class ListReviewsRequest(_message.Message):
    __slots__ = ("event_id", "page_size", "page_token")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    page_size: int
    page_token: str
    def __init__(self, event_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReviewsResponse(_message.Message):
    __slots__ = ("reviews", "next_page_token")
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reviews: _containers.RepeatedCompositeFieldContainer[Review]
    next_page_token: str
    def __init__(self, reviews: _Optional[_Iterable[_Union[Review, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchAvailabilityRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    def __init__(self, event_id: _Optional[str] = ...) -> None: ...

class Availability(_message.Message):
    __slots__ = ("event_id", "capacity", "seats_taken", "seats_available", "state")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SEATS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    capacity: int
    seats_taken: int
    seats_available: int
    state: Event.State
    def __init__(self, event_id: _Optional[str] = ..., capacity: _Optional[int] = ..., seats_taken: _Optional[int] = ..., seats_available: _Optional[int] = ..., state: _Optional[_Union[Event.State, str]] = ...) -> None: ...

class ReserveSeatsRequest(_message.Message):
    __slots__ = ("event_id", "seats", "reservation_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    seats: int
    reservation_id: str
    def __init__(self, event_id: _Optional[str] = ..., seats: _Optional[int] = ..., reservation_id: _Optional[str] = ...) -> None: ...

class ReserveSeatsResponse(_message.Message):
    __slots__ = ("reservation_id", "event_id", "seats", "seats_available", "event")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    event_id: str
    seats: int
    seats_available: int
    event: Event
    def __init__(self, reservation_id: _Optional[str] = ..., event_id: _Optional[str] = ..., seats: _Optional[int] = ..., seats_available: _Optional[int] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class ReleaseSeatsRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReleaseSeatsResponse(_message.Message):
    __slots__ = ("reservation_id", "seats_released", "event_id", "seats_available")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_RELEASED_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    seats_released: int
    event_id: str
    seats_available: int
    def __init__(self, reservation_id: _Optional[str] = ..., seats_released: _Optional[int] = ..., event_id: _Optional[str] = ..., seats_available: _Optional[int] = ...) -> None: ...

class BatchGetEventsRequest(_message.Message):
    __slots__ = ("event_ids",)
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...
