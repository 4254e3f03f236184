"""google.protobuf.Timestamp <-> aware datetimes, the same way in every service."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from services.runtime.errors import bad_field

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """What Timestamp.FromDatetime gives (a naive time counts as UTC) at half its cost: a booking
    renders several, and bus events carry them too."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    since = value - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000
    )


def moment(stamp: timestamp_pb2.Timestamp, field_path: str = "") -> datetime:
    """The instant a client's Timestamp names; one outside years 1-9999 is the client's error."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise bad_field(field_path or "timestamp", "is not a valid time") from None


def moment_or_none(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """An optional Timestamp from a peer: None when unset (the zero value)."""
    if not stamp.seconds and not stamp.nanos:
        return None
    return stamp.ToDatetime(tzinfo=UTC)
