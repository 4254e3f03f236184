"""Calling any RPC of the mesh by its descriptor, the three ways a client can reach it:

- `Via.DIRECT`: native gRPC to the service's own port (what another service does; proves the
  service's own checks, with no edge in front);
- `Via.EDGE_GRPC`: native gRPC through Envoy (RBAC, jwt_authn's gRPC rules);
- `Via.EDGE_REST`: REST through Envoy, the request transcoded from the RPC's `google.api.http`
  rule the way the contract documents it (jwt_authn's REST rules, the JSON transcoder).

Every answer becomes an `Outcome`: the gRPC code (REST answers carry it in their google.rpc.Status
JSON), the ErrorInfo reason, and the texts a client gets to see, for the checks that nothing leaks.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
import httpx
from google.protobuf import json_format, text_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from scripts.mesh import Mesh
from services.runtime.errors import status_details
from tests.security.contract import Rpc

Metadata = Sequence[tuple[str, str]]

# A unary call that takes longer than this is a hang, not an answer.
CALL_TIMEOUT = 20.0
# A stream that neither sent a first message nor failed within this long was accepted: it is
# waiting for something to happen (WatchNotifications with nothing new).
STREAM_WINDOW = 1.0

_DETAIL_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.ResourceInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.QuotaFailure,
        error_details_pb2.RequestInfo,
        error_details_pb2.Help,
        error_details_pb2.LocalizedMessage,
        error_details_pb2.DebugInfo,
    )
}

_HTTP_TO_CODE = {
    200: grpc.StatusCode.OK,
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class Via(enum.Enum):
    DIRECT = "direct"
    EDGE_GRPC = "edge gRPC"
    EDGE_REST = "edge REST"


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    reason: str = ""
    message: str = ""
    # The reply for OK (protobuf text format, or the REST body); empty otherwise.
    reply: str = ""
    # Each google.rpc.Status detail, printed; empty when the answer had none (an edge's own refusal
    # over gRPC carries no details).
    details: tuple[str, ...] = ()
    # Whether a stream was still open, waiting, when we stopped listening (no message yet).
    stream_open: bool = False
    # REST only: the HTTP status, and whether the body was a google.rpc.Status JSON.
    http_status: int | None = None
    json_body: bool = True

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    def client_visible_text(self) -> str:
        """Everything an error shows its client: message and every detail."""
        return "\n".join([self.message, *self.details])

    def describe(self) -> str:
        if self.ok:
            shown = "stream open, nothing sent yet" if self.stream_open else self.reply[:300]
            return f"OK ({shown!r})"
        http = (
            f" [HTTP {self.http_status}{'' if self.json_body else ', not JSON'}]" if self.http_status else ""
        )
        return f"{self.code.name} {self.reason or '(no reason)'}{http}: {self.message[:300]!r}"


def _printed_details(status: status_pb2.Status) -> tuple[tuple[str, ...], str]:
    printed: list[str] = []
    reason = ""
    for detail in status.details:
        kind = _DETAIL_TYPES.get(detail.TypeName())
        if kind is None:
            printed.append(f"{detail.type_url}: {detail.value!r}")
            continue
        unpacked = kind()
        detail.Unpack(unpacked)
        if isinstance(unpacked, error_details_pb2.ErrorInfo) and not reason:
            reason = unpacked.reason
        printed.append(f"{detail.TypeName()}: {text_format.MessageToString(unpacked, as_utf8=True)}")
    return tuple(printed), reason


def grpc_outcome(error: grpc.RpcError) -> Outcome:
    status = status_details(error)
    details, reason = _printed_details(status) if status is not None else ((), "")
    return Outcome(code=error.code(), reason=reason, message=error.details() or "", details=details)


def rest_outcome(response: httpx.Response) -> Outcome:
    if response.status_code == 200:
        return Outcome(grpc.StatusCode.OK, reply=response.text, http_status=200)
    try:
        body = response.json()
        code = _CODES_BY_NUMBER[int(body["code"])]
    except (ValueError, KeyError, TypeError):
        return Outcome(
            code=_HTTP_TO_CODE.get(response.status_code, grpc.StatusCode.UNKNOWN),
            message=response.text,
            http_status=response.status_code,
            json_body=False,
        )
    reason = ""
    details: list[str] = []
    for detail in body.get("details") or []:
        details.append(json.dumps(detail, ensure_ascii=False))
        if (
            isinstance(detail, dict)
            and detail.get("@type", "").endswith("/google.rpc.ErrorInfo")
            and not reason
        ):
            reason = str(detail.get("reason", ""))
    return Outcome(
        code=code,
        reason=reason,
        message=str(body.get("message", "")),
        details=tuple(details),
        http_status=response.status_code,
    )


# -- REST, transcoded from the contract ---------------------------------------------------------

_VARIABLE = re.compile(r"\{([a-z0-9_.]+)(?:=[^}]*)?\}")


def _field_value(message: Message, dotted: str) -> Any:
    value: Any = message
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _drop(document: dict[str, Any], message: Message, dotted: str) -> None:
    """Remove the JSON member of a proto field path (the path carries it)."""
    parts = dotted.split(".")
    descriptor = message.DESCRIPTOR
    node: Any = document
    for index, part in enumerate(parts):
        proto_field = descriptor.fields_by_name[part]
        if not isinstance(node, dict):
            return
        if index == len(parts) - 1:
            node.pop(proto_field.json_name, None)
            return
        node = node.get(proto_field.json_name)
        descriptor = proto_field.message_type


def _query(document: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            params.extend(_query(value, f"{name}."))
        elif isinstance(value, list):
            params.extend((name, _scalar(item)) for item in value)
        else:
            params.append((name, _scalar(value)))
    return params


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class RestRequest:
    method: str
    path: str
    params: list[tuple[str, str]]
    content: bytes | None
    content_type: str | None


def rest_request(rpc: Rpc, request: Message) -> RestRequest:
    """The HTTP request the contract's REST route makes of `request`."""
    rule = rpc.http
    if rule is None:
        raise ValueError(f"{rpc} has no REST route")
    verb = rule.WhichOneof("pattern")
    template = str(getattr(rule, verb))
    bound = _VARIABLE.findall(template)
    path = _VARIABLE.sub(lambda match: quote(str(_field_value(request, match[1])), safe=""), template)
    document = json_format.MessageToDict(request)
    for dotted in bound:
        _drop(document, request, dotted)
    content: bytes | None = None
    content_type: str | None = None
    if rule.body == "*":
        content, content_type = json.dumps(document).encode(), "application/json"
        document = {}
    elif rule.body:
        body_field = request.DESCRIPTOR.fields_by_name[rule.body]
        body_message = getattr(request, rule.body)
        if body_field.message_type.full_name == "google.api.HttpBody":
            content, content_type = bytes(body_message.data), body_message.content_type or None
        else:
            body_document = document.get(body_field.json_name, {})
            content, content_type = json.dumps(body_document).encode(), "application/json"
        document.pop(body_field.json_name, None)
    return RestRequest(verb.upper(), path, _query(document), content, content_type)


# -- calls --------------------------------------------------------------------------------------


class MeshClient:
    """Channels to every service and to the edge, and an HTTP client for the edge's REST side."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self._channels: dict[str, grpc.Channel] = {}
        self.http = httpx.Client(base_url=mesh.rest_url, timeout=CALL_TIMEOUT)

    def channel(self, rpc: Rpc, via: Via) -> grpc.Channel:
        target = self.mesh.edge if via is not Via.DIRECT else self.mesh.service_address(rpc.service)
        if target not in self._channels:
            # Big enough for every request the fuzz sends; the servers' own limits still apply.
            self._channels[target] = grpc.insecure_channel(
                target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
            )
        return self._channels[target]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self.http.close()

    def call(
        self,
        rpc: Rpc,
        request: Message,
        metadata: Metadata,
        via: Via,
        *,
        stream_window: float = STREAM_WINDOW,
    ) -> Outcome:
        if via is Via.EDGE_REST:
            return self._rest(rpc, request, metadata)
        return self._grpc(rpc, request.SerializeToString(), metadata, via, stream_window)

    def call_raw(
        self, rpc: Rpc, data: bytes, metadata: Metadata, via: Via, *, stream_window: float = STREAM_WINDOW
    ) -> Outcome:
        """`data` as the request, whatever it is (undecodable bytes included)."""
        return self._grpc(rpc, data, metadata, via, stream_window)

    def _grpc(self, rpc: Rpc, data: bytes, metadata: Metadata, via: Via, stream_window: float) -> Outcome:
        channel = self.channel(rpc, via)
        parse = rpc.response_class().FromString
        try:
            if rpc.streaming:
                return self._first_of_stream(channel, rpc, data, metadata, parse, stream_window)
            reply = channel.unary_unary(rpc.path, request_serializer=_as_is, response_deserializer=parse)(
                data, metadata=list(metadata), timeout=CALL_TIMEOUT
            )
        except grpc.RpcError as error:
            return grpc_outcome(error)
        return Outcome(grpc.StatusCode.OK, reply=text_format.MessageToString(reply, as_utf8=True))

    @staticmethod
    def _first_of_stream(
        channel: grpc.Channel, rpc: Rpc, data: bytes, metadata: Metadata, parse: Any, window: float
    ) -> Outcome:
        call = channel.unary_stream(rpc.path, request_serializer=_as_is, response_deserializer=parse)(
            data, metadata=list(metadata), timeout=window
        )
        try:
            first = next(call)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(grpc.StatusCode.OK, stream_open=True)
            raise
        except StopIteration:
            return Outcome(grpc.StatusCode.OK)
        finally:
            call.cancel()
        return Outcome(grpc.StatusCode.OK, reply=text_format.MessageToString(first, as_utf8=True))

    def _rest(self, rpc: Rpc, request: Message, metadata: Metadata) -> Outcome:
        http = rest_request(rpc, request)
        headers = dict(metadata)
        if http.content_type:
            headers["content-type"] = http.content_type
        response = self.http.request(
            http.method, http.path, params=http.params, content=http.content, headers=headers
        )
        return rest_outcome(response)


def _as_is(data: bytes) -> bytes:
    return data


@contextmanager
def mesh_client(mesh: Mesh) -> Iterator[MeshClient]:
    client = MeshClient(mesh)
    try:
        yield client
    finally:
        client.close()
