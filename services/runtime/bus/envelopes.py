"""Bus events on the wire: the envelope around each protobuf message, and stream names."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from google.protobuf import message as protobuf_message
from google.protobuf import symbol_database

from seatmesh.bus.v1 import envelope_pb2
from services.runtime import tracing
from services.runtime.logs import request_id_var

DEAD_LETTER_STREAM = "bus:dead"
# Redis stream entries are {b"e": <serialized Envelope>}.
ENVELOPE_FIELD = b"e"


def stream_name(prefix: str, source: str) -> str:
    return f"{prefix}bus:{source}"


def envelope_for(message: protobuf_message.Message, *, source: str) -> envelope_pb2.Envelope:
    """The envelope of a bus event published now: a new id, the request id and trace context of
    the work that publishes it."""
    trace_context: dict[str, str] = {}
    tracing.inject(trace_context)
    envelope = envelope_pb2.Envelope(
        event_id=str(uuid.uuid4()),
        type=message.DESCRIPTOR.full_name,
        source=source,
        request_id=request_id_var.get(),
        traceparent=trace_context.get("traceparent", ""),
        tracestate=trace_context.get("tracestate", ""),
    )
    envelope.occurred_at.GetCurrentTime()
    envelope.payload.Pack(message)
    return envelope


def trace_context(envelope: envelope_pb2.Envelope) -> dict[str, str]:
    """The W3C trace context an envelope carries (empty when it was published outside a trace)."""
    carrier = {"traceparent": envelope.traceparent}
    if envelope.tracestate:
        carrier["tracestate"] = envelope.tracestate
    return carrier if envelope.traceparent else {}


def unpack(envelope: envelope_pb2.Envelope) -> protobuf_message.Message | None:
    """The message an envelope carries; None when its type is unknown here or does not parse."""
    try:
        message_class = symbol_database.Default().GetSymbol(envelope.type)
    except KeyError:
        return None
    payload = message_class()
    if not envelope.payload.Unpack(payload):
        return None
    return payload


def raw_envelope(fields: Mapping[bytes, bytes] | Mapping[str, bytes] | None) -> bytes:
    """The serialized envelope of a stream entry (b"" when there is none)."""
    if not fields:
        return b""
    found: Any = fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.decode())  # type: ignore[call-overload]
    return bytes(found) if found else b""


def read_envelope(fields: Mapping[bytes, bytes] | Mapping[str, bytes] | None) -> envelope_pb2.Envelope | None:
    """The envelope of a stream entry; None when it is missing or unreadable."""
    envelope = envelope_pb2.Envelope()
    try:
        envelope.ParseFromString(raw_envelope(fields))
        uuid.UUID(envelope.event_id)
    except Exception:
        return None
    return envelope


def stream_fields(envelope: envelope_pb2.Envelope) -> dict[bytes, bytes]:
    return {ENVELOPE_FIELD: envelope.SerializeToString()}
