"""Proto <-> domain translation for events, shared by the servicer, the bus handlers and the jobs."""

from __future__ import annotations

from seatmesh.events.v1 import events_pb2
from services.events.rules import EventFields, EventRecord, ReviewRecord, State
from services.runtime.timestamps import moment, timestamp

_STATE_TO_PROTO = {
    State.SCHEDULED: events_pb2.Event.SCHEDULED,
    State.CANCELLED: events_pb2.Event.CANCELLED,
    State.COMPLETED: events_pb2.Event.COMPLETED,
}
_STATE_FROM_PROTO = {value: key for key, value in _STATE_TO_PROTO.items()}


def state_to_proto(state: State) -> events_pb2.Event.State.ValueType:
    return _STATE_TO_PROTO[state]


def state_from_proto(value: int) -> State | None:
    """None for STATE_UNSPECIFIED (no filter)."""
    return _STATE_FROM_PROTO.get(value)  # type: ignore[call-overload]


def event_to_proto(event: EventRecord) -> events_pb2.Event:
    return events_pb2.Event(
        id=str(event.id),
        organizer_id=event.organizer_id,
        title=event.title,
        description=event.description,
        start_time=timestamp(event.start_time),
        end_time=timestamp(event.end_time),
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
        capacity=event.capacity,
        seats_taken=event.seats_taken,
        seats_available=event.seats_available,
        max_seats_per_booking=event.max_seats_per_booking,
        tags=event.tags,
        requires_approval=event.requires_approval,
        state=_STATE_TO_PROTO[event.state],
        rating_average=event.rating_average,
        rating_count=event.rating_count,
        etag=event.etag,
        create_time=timestamp(event.create_time),
        update_time=timestamp(event.update_time),
    )


def fields_from_proto(event: events_pb2.Event) -> EventFields:
    """The organizer-editable part of an Event message (output-only fields are ignored)."""
    return EventFields(
        title=event.title,
        description=event.description,
        start_time=moment(event.start_time, "event.start_time") if event.HasField("start_time") else None,
        end_time=moment(event.end_time, "event.end_time") if event.HasField("end_time") else None,
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
        capacity=event.capacity,
        max_seats_per_booking=event.max_seats_per_booking,
        tags=tuple(event.tags),
        requires_approval=event.requires_approval,
    )


def present_fields(event: events_pb2.Event) -> list[str]:
    """Fields the client set (proto3: non-default), for an update without a mask."""
    return [descriptor.name for descriptor, _ in event.ListFields()]


def creation_fingerprint_source(event: events_pb2.Event) -> bytes:
    """The request body that CreateEvent's idempotency compares: input fields only."""
    body = events_pb2.Event()
    body.CopyFrom(event)
    for name in (
        "id",
        "organizer_id",
        "seats_taken",
        "seats_available",
        "state",
        "rating_average",
        "rating_count",
        "etag",
        "create_time",
        "update_time",
    ):
        body.ClearField(name)
    return body.SerializeToString(deterministic=True)


def availability_to_proto(event: EventRecord) -> events_pb2.Availability:
    return events_pb2.Availability(
        event_id=str(event.id),
        capacity=event.capacity,
        seats_taken=event.seats_taken,
        seats_available=event.seats_available,
        state=_STATE_TO_PROTO[event.state],
    )


def review_to_proto(review: ReviewRecord) -> events_pb2.Review:
    return events_pb2.Review(
        id=str(review.id),
        event_id=str(review.event_id),
        booking_id=review.booking_id,
        author_id=review.author_id,
        event_rating=review.event_rating,
        host_rating=review.host_rating,
        comment=review.comment,
        create_time=timestamp(review.create_time),
    )
