import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from seatmesh.bookings.v1 import bookings_pb2 as _bookings_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BookingDetails(_message.Message):
    __slots__ = ("booking_id", "event_id", "guest_id", "host_id", "seats", "state", "event_title", "event_start_time", "event_end_time", "event_time_zone", "event_city", "event_venue", "waitlist_position", "amount", "payment_id")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    GUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_END_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    EVENT_CITY_FIELD_NUMBER: _ClassVar[int]
    EVENT_VENUE_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_POSITION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    event_id: str
    guest_id: str
    host_id: str
    seats: int
    state: _bookings_pb2.Booking.State
    event_title: str
    event_start_time: _timestamp_pb2.Timestamp
    event_end_time: _timestamp_pb2.Timestamp
    event_time_zone: str
    event_city: str
    event_venue: str
    waitlist_position: int
    amount: _money_pb2.Money
    payment_id: str
    def __init__(self, booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., guest_id: _Optional[str] = ..., host_id: _Optional[str] = ..., seats: _Optional[int] = ..., state: _Optional[_Union[_bookings_pb2.Booking.State, str]] = ..., event_title: _Optional[str] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time_zone: _Optional[str] = ..., event_city: _Optional[str] = ..., event_venue: _Optional[str] = ..., waitlist_position: _Optional[int] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., payment_id: _Optional[str] = ...) -> None: ...

class BookingConfirmed(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ...) -> None: ...

class BookingAwaitingApproval(_message.Message):
    __slots__ = ("booking", "expire_time")
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BookingApproved(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ...) -> None: ...

class BookingRejected(_message.Message):
    __slots__ = ("booking", "cause", "reason")
    class Cause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CAUSE_UNSPECIFIED: _ClassVar[BookingRejected.Cause]
        SOLD_OUT: _ClassVar[BookingRejected.Cause]
        HOST_REJECTED: _ClassVar[BookingRejected.Cause]
        EVENT_NOT_BOOKABLE: _ClassVar[BookingRejected.Cause]
    CAUSE_UNSPECIFIED: BookingRejected.Cause
    SOLD_OUT: BookingRejected.Cause
    HOST_REJECTED: BookingRejected.Cause
    EVENT_NOT_BOOKABLE: BookingRejected.Cause
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    cause: BookingRejected.Cause
    reason: str
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ..., cause: _Optional[_Union[BookingRejected.Cause, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class BookingExpired(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ...) -> None: ...

class BookingWaitlisted(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ...) -> None: ...

class BookingPromoted(_message.Message):
    __slots__ = ("booking",)
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ...) -> None: ...

class BookingAwaitingPayment(_message.Message):
    __slots__ = ("booking", "expire_time", "origin")
    class Origin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ORIGIN_UNSPECIFIED: _ClassVar[BookingAwaitingPayment.Origin]
        BOOKED: _ClassVar[BookingAwaitingPayment.Origin]
        PROMOTED: _ClassVar[BookingAwaitingPayment.Origin]
        APPROVED: _ClassVar[BookingAwaitingPayment.Origin]
    ORIGIN_UNSPECIFIED: BookingAwaitingPayment.Origin
    BOOKED: BookingAwaitingPayment.Origin
    PROMOTED: BookingAwaitingPayment.Origin
    APPROVED: BookingAwaitingPayment.Origin
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    expire_time: _timestamp_pb2.Timestamp
    origin: BookingAwaitingPayment.Origin
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., origin: _Optional[_Union[BookingAwaitingPayment.Origin, str]] = ...) -> None: ...

class BookingPaymentRefused(_message.Message):
    __slots__ = ("booking", "payment_id", "reason", "amount")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[BookingPaymentRefused.Reason]
        SOLD_OUT: _ClassVar[BookingPaymentRefused.Reason]
        EVENT_NOT_BOOKABLE: _ClassVar[BookingPaymentRefused.Reason]
        BOOKING_ENDED: _ClassVar[BookingPaymentRefused.Reason]
        ALREADY_PAID: _ClassVar[BookingPaymentRefused.Reason]
        AMOUNT_MISMATCH: _ClassVar[BookingPaymentRefused.Reason]
        BOOKED_AGAIN: _ClassVar[BookingPaymentRefused.Reason]
    REASON_UNSPECIFIED: BookingPaymentRefused.Reason
    SOLD_OUT: BookingPaymentRefused.Reason
    EVENT_NOT_BOOKABLE: BookingPaymentRefused.Reason
    BOOKING_ENDED: BookingPaymentRefused.Reason
    ALREADY_PAID: BookingPaymentRefused.Reason
    AMOUNT_MISMATCH: BookingPaymentRefused.Reason
    BOOKED_AGAIN: BookingPaymentRefused.Reason
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    payment_id: str
    reason: BookingPaymentRefused.Reason
    amount: _money_pb2.Money
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ..., payment_id: _Optional[str] = ..., reason: _Optional[_Union[BookingPaymentRefused.Reason, str]] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class BookingCancelled(_message.Message):
    __slots__ = ("booking", "cancelled_by", "reason", "previous_state")
    class Actor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTOR_UNSPECIFIED: _ClassVar[BookingCancelled.Actor]
        GUEST: _ClassVar[BookingCancelled.Actor]
        HOST: _ClassVar[BookingCancelled.Actor]
        ADMIN: _ClassVar[BookingCancelled.Actor]
        EVENT_CANCELLED: _ClassVar[BookingCancelled.Actor]
    ACTOR_UNSPECIFIED: BookingCancelled.Actor
    GUEST: BookingCancelled.Actor
    HOST: BookingCancelled.Actor
    ADMIN: BookingCancelled.Actor
    EVENT_CANCELLED: BookingCancelled.Actor
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    booking: BookingDetails
    cancelled_by: BookingCancelled.Actor
    reason: str
    previous_state: _bookings_pb2.Booking.State
    def __init__(self, booking: _Optional[_Union[BookingDetails, _Mapping]] = ..., cancelled_by: _Optional[_Union[BookingCancelled.Actor, str]] = ..., reason: _Optional[str] = ..., previous_state: _Optional[_Union[_bookings_pb2.Booking.State, str]] = ...) -> None: ...

class ReviewSubmitted(_message.Message):
    __slots__ = ("review",)
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    review: _bookings_pb2.BookingReview
    def __init__(self, review: _Optional[_Union[_bookings_pb2.BookingReview, _Mapping]] = ...) -> None: ...

class GuestRated(_message.Message):
    __slots__ = ("rating",)
    RATING_FIELD_NUMBER: _ClassVar[int]
    rating: _bookings_pb2.GuestRating
    def __init__(self, rating: _Optional[_Union[_bookings_pb2.GuestRating, _Mapping]] = ...) -> None: ...
