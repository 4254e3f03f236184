import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from seatmesh.users.v1 import users_pb2 as _users_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserRegistered(_message.Message):
    __slots__ = ("user_id", "email", "display_name", "phone", "role", "locale")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    display_name: str
    phone: str
    role: _users_pb2.Role
    locale: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., phone: _Optional[str] = ..., role: _Optional[_Union[_users_pb2.Role, str]] = ..., locale: _Optional[str] = ...) -> None: ...

class VerificationCodeIssued(_message.Message):
    __slots__ = ("user_id", "email", "display_name", "code", "expire_time", "locale", "sealed_code")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    SEALED_CODE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    display_name: str
    code: str
    expire_time: _timestamp_pb2.Timestamp
    locale: str
    sealed_code: bytes
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ..., display_name: _Optional[str] = ..., code: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., locale: _Optional[str] = ..., sealed_code: _Optional[bytes] = ...) -> None: ...

class PhoneCodeIssued(_message.Message):
    __slots__ = ("user_id", "phone", "display_name", "sealed_code", "expire_time", "locale")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEALED_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    phone: str
    display_name: str
    sealed_code: bytes
    expire_time: _timestamp_pb2.Timestamp
    locale: str
    def __init__(self, user_id: _Optional[str] = ..., phone: _Optional[str] = ..., display_name: _Optional[str] = ..., sealed_code: _Optional[bytes] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., locale: _Optional[str] = ...) -> None: ...

class EmailVerified(_message.Message):
    __slots__ = ("user_id", "email")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    email: str
    def __init__(self, user_id: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...
