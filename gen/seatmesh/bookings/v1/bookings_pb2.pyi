import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Booking(_message.Message):
    __slots__ = ("id", "event_id", "user_id", "seats", "join_waitlist", "state", "waitlist_position", "event_title", "event_start_time", "event_time_zone", "create_time", "update_time", "amount", "payment_id", "checkout_url", "hold_expire_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Booking.State]
        PENDING: _ClassVar[Booking.State]
        CONFIRMED: _ClassVar[Booking.State]
        AWAITING_APPROVAL: _ClassVar[Booking.State]
        WAITLISTED: _ClassVar[Booking.State]
        REJECTED: _ClassVar[Booking.State]
        CANCELLED: _ClassVar[Booking.State]
        EXPIRED: _ClassVar[Booking.State]
        AWAITING_PAYMENT: _ClassVar[Booking.State]
    STATE_UNSPECIFIED: Booking.State
    PENDING: Booking.State
    CONFIRMED: Booking.State
    AWAITING_APPROVAL: Booking.State
    WAITLISTED: Booking.State
    REJECTED: Booking.State
    CANCELLED: Booking.State
    EXPIRED: Booking.State
    AWAITING_PAYMENT: Booking.State
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    JOIN_WAITLIST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_POSITION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    event_id: str
    user_id: str
    seats: int
    join_waitlist: bool
    state: Booking.State
    waitlist_position: int
    event_title: str
    event_start_time: _timestamp_pb2.Timestamp
    event_time_zone: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    amount: _money_pb2.Money
    payment_id: str
    checkout_url: str
    hold_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., seats: _Optional[int] = ..., join_waitlist: _Optional[bool] = ..., state: _Optional[_Union[Booking.State, str]] = ..., waitlist_position: _Optional[int] = ..., event_title: _Optional[str] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time_zone: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., payment_id: _Optional[str] = ..., checkout_url: _Optional[str] = ..., hold_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateBookingRequest(_message.Message):
    __slots__ = ("booking", "request_id")
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    booking: Booking
    request_id: str
    def __init__(self, booking: _Optional[_Union[Booking, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetBookingRequest(_message.Message):
    __slots__ = ("booking_id",)
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    def __init__(self, booking_id: _Optional[str] = ...) -> None: ...

class ListBookingsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "perspective", "state", "event_id", "upcoming_only")
    class Perspective(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PERSPECTIVE_UNSPECIFIED: _ClassVar[ListBookingsRequest.Perspective]
        GUEST: _ClassVar[ListBookingsRequest.Perspective]
        HOST: _ClassVar[ListBookingsRequest.Perspective]
    PERSPECTIVE_UNSPECIFIED: ListBookingsRequest.Perspective
    GUEST: ListBookingsRequest.Perspective
    HOST: ListBookingsRequest.Perspective
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PERSPECTIVE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPCOMING_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    perspective: ListBookingsRequest.Perspective
    state: Booking.State
    event_id: str
    upcoming_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., perspective: _Optional[_Union[ListBookingsRequest.Perspective, str]] = ..., state: _Optional[_Union[Booking.State, str]] = ..., event_id: _Optional[str] = ..., upcoming_only: _Optional[bool] = ...) -> None: ...

class ListBookingsResponse(_message.Message):
    __slots__ = ("bookings", "next_page_token")
    BOOKINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bookings: _containers.RepeatedCompositeFieldContainer[Booking]
    next_page_token: str
    def __init__(self, bookings: _Optional[_Iterable[_Union[Booking, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelBookingRequest(_message.Message):
    __slots__ = ("booking_id", "reason")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    reason: str
    def __init__(self, booking_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ApproveBookingRequest(_message.Message):
    __slots__ = ("booking_id",)
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    def __init__(self, booking_id: _Optional[str] = ...) -> None: ...

class RejectBookingRequest(_message.Message):
    __slots__ = ("booking_id", "reason")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    reason: str
    def __init__(self, booking_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReviewBookingRequest(_message.Message):
    __slots__ = ("booking_id", "event_rating", "host_rating", "comment")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_RATING_FIELD_NUMBER: _ClassVar[int]
    HOST_RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    event_rating: int
    host_rating: int
    comment: str
    def __init__(self, booking_id: _Optional[str] = ..., event_rating: _Optional[int] = ..., host_rating: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class BookingReview(_message.Message):
    __slots__ = ("booking_id", "event_id", "guest_id", "host_id", "event_rating", "host_rating", "comment", "create_time")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    GUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_RATING_FIELD_NUMBER: _ClassVar[int]
    HOST_RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    event_id: str
    guest_id: str
    host_id: str
    event_rating: int
    host_rating: int
    comment: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., guest_id: _Optional[str] = ..., host_id: _Optional[str] = ..., event_rating: _Optional[int] = ..., host_rating: _Optional[int] = ..., comment: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RateGuestRequest(_message.Message):
    __slots__ = ("booking_id", "rating")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    rating: int
    def __init__(self, booking_id: _Optional[str] = ..., rating: _Optional[int] = ...) -> None: ...

class GuestRating(_message.Message):
    __slots__ = ("booking_id", "event_id", "guest_id", "host_id", "rating", "create_time")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    GUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    event_id: str
    guest_id: str
    host_id: str
    rating: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., guest_id: _Optional[str] = ..., host_id: _Optional[str] = ..., rating: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
