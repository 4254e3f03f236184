import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    KIND_VERIFICATION_CODE: _ClassVar[Kind]
    KIND_WELCOME: _ClassVar[Kind]
    KIND_BOOKING_CONFIRMED: _ClassVar[Kind]
    KIND_BOOKING_AWAITING_APPROVAL: _ClassVar[Kind]
    KIND_BOOKING_WAITLISTED: _ClassVar[Kind]
    KIND_BOOKING_PROMOTED: _ClassVar[Kind]
    KIND_BOOKING_APPROVED: _ClassVar[Kind]
    KIND_BOOKING_REJECTED: _ClassVar[Kind]
    KIND_BOOKING_EXPIRED: _ClassVar[Kind]
    KIND_BOOKING_CANCELLED: _ClassVar[Kind]
    KIND_APPROVAL_REQUESTED: _ClassVar[Kind]
    KIND_GUEST_CANCELLED: _ClassVar[Kind]
    KIND_EVENT_UPDATED: _ClassVar[Kind]
    KIND_EVENT_CANCELLED: _ClassVar[Kind]
    KIND_REMINDER_24H: _ClassVar[Kind]
    KIND_REMINDER_1H: _ClassVar[Kind]
    KIND_RATE_EVENT: _ClassVar[Kind]
    KIND_ORGANIZER_MESSAGE: _ClassVar[Kind]
    KIND_ANNOUNCEMENT: _ClassVar[Kind]
    KIND_PAYMENT_DUE: _ClassVar[Kind]
    KIND_PAYMENT_REMINDER: _ClassVar[Kind]
    KIND_PAYMENT_RECEIPT: _ClassVar[Kind]
    KIND_PAYMENT_REFUNDED: _ClassVar[Kind]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_IN_APP: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
KIND_UNSPECIFIED: Kind
KIND_VERIFICATION_CODE: Kind
KIND_WELCOME: Kind
KIND_BOOKING_CONFIRMED: Kind
KIND_BOOKING_AWAITING_APPROVAL: Kind
KIND_BOOKING_WAITLISTED: Kind
KIND_BOOKING_PROMOTED: Kind
KIND_BOOKING_APPROVED: Kind
KIND_BOOKING_REJECTED: Kind
KIND_BOOKING_EXPIRED: Kind
KIND_BOOKING_CANCELLED: Kind
KIND_APPROVAL_REQUESTED: Kind
KIND_GUEST_CANCELLED: Kind
KIND_EVENT_UPDATED: Kind
KIND_EVENT_CANCELLED: Kind
KIND_REMINDER_24H: Kind
KIND_REMINDER_1H: Kind
KIND_RATE_EVENT: Kind
KIND_ORGANIZER_MESSAGE: Kind
KIND_ANNOUNCEMENT: Kind
KIND_PAYMENT_DUE: Kind
KIND_PAYMENT_REMINDER: Kind
KIND_PAYMENT_RECEIPT: Kind
KIND_PAYMENT_REFUNDED: Kind
CHANNEL_UNSPECIFIED: Channel
CHANNEL_IN_APP: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SMS: Channel

class Notification(_message.Message):
    __slots__ = ("id", "kind", "title", "body", "link", "read", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: Kind
    title: str
    body: str
    link: str
    read: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., link: _Optional[str] = ..., read: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "unread_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREAD_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    unread_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., unread_only: _Optional[bool] = ...) -> None: ...

class ListNotificationsResponse(_message.Message):
    __slots__ = ("notifications", "next_page_token")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    next_page_token: str
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkNotificationReadRequest(_message.Message):
    __slots__ = ("notification_id",)
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    def __init__(self, notification_id: _Optional[str] = ...) -> None: ...

class MarkAllNotificationsReadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarkAllNotificationsReadResponse(_message.Message):
    __slots__ = ("marked_count",)
    MARKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    marked_count: int
    def __init__(self, marked_count: _Optional[int] = ...) -> None: ...

class KindPreference(_message.Message):
    __slots__ = ("kind", "in_app", "email", "sms")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IN_APP_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SMS_FIELD_NUMBER: _ClassVar[int]
    kind: Kind
    in_app: bool
    email: bool
    sms: bool
    def __init__(self, kind: _Optional[_Union[Kind, str]] = ..., in_app: _Optional[bool] = ..., email: _Optional[bool] = ..., sms: _Optional[bool] = ...) -> None: ...

class NotificationPreferences(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedCompositeFieldContainer[KindPreference]
    def __init__(self, kinds: _Optional[_Iterable[_Union[KindPreference, _Mapping]]] = ...) -> None: ...

class GetNotificationPreferencesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateNotificationPreferencesRequest(_message.Message):
    __slots__ = ("preferences",)
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    preferences: NotificationPreferences
    def __init__(self, preferences: _Optional[_Union[NotificationPreferences, _Mapping]] = ...) -> None: ...

class SendNotificationRequest(_message.Message):
    __slots__ = ("event_id", "title", "body", "channels", "request_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    title: str
    body: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    request_id: str
    def __init__(self, event_id: _Optional[str] = ..., title: _Optional[str] = ..., body: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SendNotificationResponse(_message.Message):
    __slots__ = ("recipient_count",)
    RECIPIENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    recipient_count: int
    def __init__(self, recipient_count: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("id", "kind", "channel", "recipient_id", "address", "state", "attempts", "last_error", "create_time", "update_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Delivery.State]
        PENDING: _ClassVar[Delivery.State]
        SENT: _ClassVar[Delivery.State]
        FAILED: _ClassVar[Delivery.State]
    STATE_UNSPECIFIED: Delivery.State
    PENDING: Delivery.State
    SENT: Delivery.State
    FAILED: Delivery.State
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: Kind
    channel: Channel
    recipient_id: str
    address: str
    state: Delivery.State
    attempts: int
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., recipient_id: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[_Union[Delivery.State, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeliveriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: Delivery.State
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[Delivery.State, str]] = ...) -> None: ...

class ListDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    next_page_token: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("id", "stream", "event_id", "type", "error", "attempts", "dead_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DEAD_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    stream: str
    event_id: str
    type: str
    error: str
    attempts: int
    dead_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., stream: _Optional[str] = ..., event_id: _Optional[str] = ..., type: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., dead_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchNotificationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
