import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from seatmesh.events.v1 import events_pb2 as _events_pb2
from seatmesh.payments.v1 import payments_pb2 as _payments_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentDetails(_message.Message):
    __slots__ = ("payment_id", "booking_id", "event_id", "buyer_id", "organizer_id", "event_title", "seats", "amount", "captured", "refunded", "state", "provider", "refund_policy", "full_refund_deadline", "event_start_time", "event_time_zone", "checkout_url", "hold_expire_time")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKING_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    BUYER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TITLE_FIELD_NUMBER: _ClassVar[int]
    SEATS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REFUND_POLICY_FIELD_NUMBER: _ClassVar[int]
    FULL_REFUND_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    EVENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    HOLD_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    booking_id: str
    event_id: str
    buyer_id: str
    organizer_id: str
    event_title: str
    seats: int
    amount: _money_pb2.Money
    captured: _money_pb2.Money
    refunded: _money_pb2.Money
    state: _payments_pb2.Payment.State
    provider: str
    refund_policy: _events_pb2.RefundPolicy
    full_refund_deadline: _timestamp_pb2.Timestamp
    event_start_time: _timestamp_pb2.Timestamp
    event_time_zone: str
    checkout_url: str
    hold_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, payment_id: _Optional[str] = ..., booking_id: _Optional[str] = ..., event_id: _Optional[str] = ..., buyer_id: _Optional[str] = ..., organizer_id: _Optional[str] = ..., event_title: _Optional[str] = ..., seats: _Optional[int] = ..., amount: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., captured: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., refunded: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., state: _Optional[_Union[_payments_pb2.Payment.State, str]] = ..., provider: _Optional[str] = ..., refund_policy: _Optional[_Union[_events_pb2.RefundPolicy, _Mapping]] = ..., full_refund_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_time_zone: _Optional[str] = ..., checkout_url: _Optional[str] = ..., hold_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PaymentOpened(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: PaymentDetails
    def __init__(self, payment: _Optional[_Union[PaymentDetails, _Mapping]] = ...) -> None: ...

class PaymentSucceeded(_message.Message):
    __slots__ = ("payment", "capture_time")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    payment: PaymentDetails
    capture_time: _timestamp_pb2.Timestamp
    def __init__(self, payment: _Optional[_Union[PaymentDetails, _Mapping]] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PaymentFailed(_message.Message):
    __slots__ = ("payment", "reason")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment: PaymentDetails
    reason: str
    def __init__(self, payment: _Optional[_Union[PaymentDetails, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class PaymentExpired(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: PaymentDetails
    def __init__(self, payment: _Optional[_Union[PaymentDetails, _Mapping]] = ...) -> None: ...

class PaymentRefunded(_message.Message):
    __slots__ = ("payment", "refund")
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    payment: PaymentDetails
    refund: _payments_pb2.Refund
    def __init__(self, payment: _Optional[_Union[PaymentDetails, _Mapping]] = ..., refund: _Optional[_Union[_payments_pb2.Refund, _Mapping]] = ...) -> None: ...
