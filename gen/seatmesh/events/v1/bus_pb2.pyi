import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from seatmesh.events.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventCreated(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ...) -> None: ...

class EventUpdated(_message.Message):
    __slots__ = ("event", "changed_fields", "previous_start_time", "previous_end_time", "previous_venue", "previous_city")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_END_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VENUE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_CITY_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    previous_start_time: _timestamp_pb2.Timestamp
    previous_end_time: _timestamp_pb2.Timestamp
    previous_venue: str
    previous_city: str
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ..., previous_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_venue: _Optional[str] = ..., previous_city: _Optional[str] = ...) -> None: ...

class EventCancelled(_message.Message):
    __slots__ = ("event", "reason", "cancelled_by")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    reason: str
    cancelled_by: str
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., reason: _Optional[str] = ..., cancelled_by: _Optional[str] = ...) -> None: ...

class EventCompleted(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ...) -> None: ...

class EventDeleted(_message.Message):
    __slots__ = ("event", "deleted_by")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DELETED_BY_FIELD_NUMBER: _ClassVar[int]
    event: _events_pb2.Event
    deleted_by: str
    def __init__(self, event: _Optional[_Union[_events_pb2.Event, _Mapping]] = ..., deleted_by: _Optional[str] = ...) -> None: ...
