import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from seatmesh.events.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Refund(_message.Message):
    __slots__ = ("id", "amount", "reason", "state", "initiated_by", "initiated_by_user_id", "create_time", "update_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Refund.State]
        PENDING: _ClassVar[Refund.State]
        SUCCEEDED: _ClassVar[Refund.State]
        FAILED: _ClassVar[Refund.State]
    STATE_UNSPECIFIED: Refund.State
    PENDING: Refund.State
    SUCCEEDED: Refund.State
    FAILED: Refund.State
    class Initiator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        INITIATOR_UNSPECIFIED: _ClassVar[Refund.Initiator]
        ORGANIZER: _ClassVar[Refund.Initiator]
        ADMIN: _ClassVar[Refund.Initiator]
        GUEST_CANCELLATION: _ClassVar[Refund.Initiator]
        HOST_CANCELLATION: _ClassVar[Refund.Initiator]
        EVENT_CANCELLATION: _ClassVar[Refund.Initiator]
        PAYMENT_REFUSED: _ClassVar[Refund.Initiator]
    INITIATOR_UNSPECIFIED: Refund.Initiator
    ORGANIZER: Refund.Initiator
    ADMIN: Refund.Initiator
    GUEST_CANCELLATION: Refund.Initiator
    HOST_CANCELLATION: Refund.Initiator
    EVENT_CANCELLATION: Refund.Initiator
    PAYMENT_REFUSED: Refund.Initiator
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_FIELD_NUMBER: _ClassVar[int]
    INITIATED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: _money_pb2.Money
    reason: str
    state: Refund.State
    initiated_by: Refund.Initiator
    initiated_by_user_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ..., state: _Optional[_Union[Refund.State, str]] = ..., initiated_by: _Optional[_Union[Refund.Initiator, str]] = ..., initiated_by_user_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("id", "booking_id", "event_id", "buyer_id", "organizer_id", "event_title", "seats", "amount", "state", "provider", "checkout_url", "hold_expire_time", "captured", "refunded", "refunds", "refund_policy", "full_refund_deadline", "event_start_time", "failure_reason", "create_time", "update_time", "etag")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Payment.State]
        PENDING: _ClassVar[Payment.State]
        SUCCEEDED: _ClassVar[Payment.State]
        FAILED: _ClassVar[Payment.State]
        EXPIRED: _ClassVar[Payment.State]
    STATE_UNSPECIFIED: Payment.State
    PENDING: Payment.State
    SUCCEEDED: Payment.State
    FAILED: Payment.State
    EXPIRED: Payment.State
    ID_FIELD_NUMBER: _ClassVar[int]
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    REFUND_POLICY_FIELD_NUMBER: _ClassVar[int]
    FULL_REFUND_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    id: str
    booking_id: str
    event_id: str
    buyer_id: str
    organizer_id: str
    event_title: str
    seats: int
    amount: _money_pb2.Money
    state: Payment.State
    provider: str
    checkout_url: str
    hold_expire_time: _timestamp_pb2.Timestamp
    captured: _money_pb2.Money
    refunded: _money_pb2.Money
    refunds: _containers.RepeatedCompositeFieldContainer[Refund]
    refund_policy: _events_pb2.RefundPolicy
    full_refund_deadline: _timestamp_pb2.Timestamp
    event_start_time: _timestamp_pb2.Timestamp
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, id: _Optional[str] = ..., booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., event_title: _Optional[str] = ..., seats: _Optional[int] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., state: _Optional[_Union[Payment.State, str]] = ..., provider: _Optional[str] = ..., checkout_url: _Optional[str] = ..., hold_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., captured: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunds: _Optional[_Iterable[_Union[Refund, _Mapping]]] = ..., refund_policy: _Optional[_Union[_events_pb2.RefundPolicy, _Mapping]] = ..., full_refund_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CheckoutBooking(_message.Message):
    __slots__ = ("booking_id", "event_id", "event_title", "buyer_id", "organizer_id", "seats", "amount", "hold_expire_time", "event_start_time", "refund_policy", "event_time_zone")
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    REFUND_POLICY_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    event_id: str
    event_title: str
    buyer_id: str
    organizer_id: str
    seats: int
    amount: _money_pb2.Money
    hold_expire_time: _timestamp_pb2.Timestamp
    event_start_time: _timestamp_pb2.Timestamp
    refund_policy: _events_pb2.RefundPolicy
    event_time_zone: str
    def __init__(self, booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_title: _Optional[str] = ..., buyer_id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., seats: _Optional[int] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., hold_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., refund_policy: _Optional[_Union[_events_pb2.RefundPolicy, _Mapping]] = ..., event_time_zone: _Optional[str] = ...) -> None: ...

class OpenCheckoutRequest(_message.Message):
    __slots__ = ("booking", "request_id")
    BOOKING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    booking: CheckoutBooking
    request_id: str
    def __init__(self, booking: _Optional[_Union[CheckoutBooking, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCheckoutRequest(_message.Message):
    __slots__ = ("booking_id",)
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    booking_id: str
    def __init__(self, booking_id: _Optional[str] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class ListPaymentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "perspective", "event_id", "state", "booking_id")
    class Perspective(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PERSPECTIVE_UNSPECIFIED: _ClassVar[ListPaymentsRequest.Perspective]
        BUYER: _ClassVar[ListPaymentsRequest.Perspective]
        ORGANIZER: _ClassVar[ListPaymentsRequest.Perspective]
    PERSPECTIVE_UNSPECIFIED: ListPaymentsRequest.Perspective
    BUYER: ListPaymentsRequest.Perspective
    ORGANIZER: ListPaymentsRequest.Perspective
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PERSPECTIVE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    perspective: ListPaymentsRequest.Perspective
    event_id: str
    state: Payment.State
    booking_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., perspective: _Optional[_Union[ListPaymentsRequest.Perspective, str]] = ..., event_id: _Optional[str] = ..., state: _Optional[_Union[Payment.State, str]] = ..., booking_id: _Optional[str] = ...) -> None: ...

class ListPaymentsResponse(_message.Message):
    __slots__ = ("payments", "next_page_token")
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    next_page_token: str
    def __init__(self, payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkPaidRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class RefundPaymentRequest(_message.Message):
    __slots__ = ("payment_id", "amount", "reason", "request_id")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    amount: _money_pb2.Money
    reason: str
    request_id: str
    def __init__(self, payment_id: _Optional[str] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReceiveStripeWebhookRequest(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: _httpbody_pb2.HttpBody
    def __init__(self, payload: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class GetSalesReportRequest(_message.Message):
    __slots__ = ("event_id", "organizer_id", "start_time", "end_time", "page_size", "page_token")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    organizer_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, event_id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class DaySales(_message.Message):
    __slots__ = ("day", "bookings", "seats", "captured", "refunded")
    DAY_FIELD_NUMBER: _ClassVar[int]
    BOOKINGS_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    day: str
    bookings: int
    seats: int
    captured: _money_pb2.Money
    refunded: _money_pb2.Money
    def __init__(self, day: _Optional[str] = ..., bookings: _Optional[int] = ..., seats: _Optional[int] = ..., captured: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class EventSales(_message.Message):
    __slots__ = ("event_id", "organizer_id", "event_title", "event_start_time", "event_state", "capacity", "seats_sold", "fill_rate", "captured", "refunded", "refund_count", "revenue", "waitlist_length", "days")
    class EventState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EVENT_STATE_UNSPECIFIED: _ClassVar[EventSales.EventState]
        SCHEDULED: _ClassVar[EventSales.EventState]
        CANCELLED: _ClassVar[EventSales.EventState]
        COMPLETED: _ClassVar[EventSales.EventState]
    EVENT_STATE_UNSPECIFIED: EventSales.EventState
    SCHEDULED: EventSales.EventState
    CANCELLED: EventSales.EventState
    COMPLETED: EventSales.EventState
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_STATE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    SEATS_SOLD_FIELD_NUMBER: _ClassVar[int]
    FILL_RATE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REFUND_COUNT_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_LENGTH_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    organizer_id: str
    event_title: str
    event_start_time: _timestamp_pb2.Timestamp
    event_state: EventSales.EventState
    capacity: int
    seats_sold: int
    fill_rate: float
    captured: _money_pb2.Money
    refunded: _money_pb2.Money
    refund_count: int
    revenue: _money_pb2.Money
    waitlist_length: int
    days: _containers.RepeatedCompositeFieldContainer[DaySales]
    def __init__(self, event_id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., event_title: _Optional[str] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_state: _Optional[_Union[EventSales.EventState, str]] = ..., capacity: _Optional[int] = ..., seats_sold: _Optional[int] = ..., fill_rate: _Optional[float] = ..., captured: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refund_count: _Optional[int] = ..., revenue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., waitlist_length: _Optional[int] = ..., days: _Optional[_Iterable[_Union[DaySales, _Mapping]]] = ...) -> None: ...

class CurrencyTotals(_message.Message):
    __slots__ = ("captured", "refunded", "revenue", "seats_sold")
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    SEATS_SOLD_FIELD_NUMBER: _ClassVar[int]
    captured: _money_pb2.Money
    refunded: _money_pb2.Money
    revenue: _money_pb2.Money
    seats_sold: int
    def __init__(self, captured: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., revenue: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., seats_sold: _Optional[int] = ...) -> None: ...

class SalesReport(_message.Message):
    __slots__ = ("start_time", "end_time", "events", "totals", "next_page_token")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    events: _containers.RepeatedCompositeFieldContainer[EventSales]
    totals: _containers.RepeatedCompositeFieldContainer[CurrencyTotals]
    next_page_token: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[_Iterable[_Union[EventSales, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[CurrencyTotals, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
