"""Proto <-> domain for events: the API's messages, the bus events it publishes and the reviews it
receives. Pure functions; nothing else in the service builds or reads a message field by field.

The `*_to_proto` functions look alike (ids as text, times as Timestamps, field by field): that is
deliberate, each names every field of its own message, so the type checker sees each one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from google.protobuf import duration_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.events.v1 import bus_pb2, events_pb2
from services.events import domain
from services.events.domain import (
    EventFields,
    EventRecord,
    ListQuery,
    ReviewRecord,
    State,
    TagCount,
)
from services.runtime.errors import bad_field
from services.runtime.money import MAX_PRICE_MAJOR, Amount, money_of, to_minor
from services.runtime.timestamps import moment, timestamp

_STATE_TO_PROTO = {
    State.SCHEDULED: events_pb2.Event.SCHEDULED,
    State.CANCELLED: events_pb2.Event.CANCELLED,
    State.COMPLETED: events_pb2.Event.COMPLETED,
}
_STATE_FROM_PROTO: dict[int, State] = {value: key for key, value in _STATE_TO_PROTO.items()}

# Output-only fields of an Event: what the server sets, never what a client asks for.
_OUTPUT_ONLY = (
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
)


def state_from_proto(value: int) -> State | None:
    """None for STATE_UNSPECIFIED (no filter); an unknown number is the client's error."""
    if value not in events_pb2.Event.State.values():
        raise bad_field("state", "is not a known event state")
    return _STATE_FROM_PROTO.get(value)


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
        price=money_of(event.price) if event.price is not None else None,
        refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=event.refund_policy),
        payment_hold=duration_pb2.Duration(seconds=int(event.payment_hold.total_seconds())),
    )


def _price(event: events_pb2.Event) -> Amount | None:
    if not event.HasField("price"):
        return None
    return to_minor(event.price, "event.price", max_major=MAX_PRICE_MAJOR, allow_zero=False)


def _payment_hold(event: events_pb2.Event) -> timedelta | None:
    if not event.HasField("payment_hold"):
        return None
    if event.payment_hold.nanos:
        raise bad_field("event.payment_hold", "must be a whole number of seconds")
    return timedelta(seconds=event.payment_hold.seconds)


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
        price=_price(event),
        refund_policy=event.refund_policy.full_refund_until_hours_before_start,
        payment_hold=_payment_hold(event),
    )


def present_fields(event: events_pb2.Event) -> list[str]:
    """Fields the client set (proto3: non-default), for an update without a mask."""
    return [descriptor.name for descriptor, _ in event.ListFields()]


def creation_body(event: events_pb2.Event) -> events_pb2.Event:
    """The part of a CreateEvent request its request id is bound to: the input fields only."""
    body = events_pb2.Event()
    body.CopyFrom(event)
    for name in _OUTPUT_ONLY:
        body.ClearField(name)
    return body


def list_query_from_proto(request: events_pb2.ListEventsRequest) -> ListQuery:
    state = state_from_proto(request.state)
    return domain.build_list_query(
        order_by=request.order_by,
        city=request.city,
        tags=list(request.tags),
        state=state,
        start_time_after=moment(request.start_time_after, "start_time_after")
        if request.HasField("start_time_after")
        else None,
        start_time_before=moment(request.start_time_before, "start_time_before")
        if request.HasField("start_time_before")
        else None,
        has_available_seats=request.has_available_seats,
        min_rating=request.min_rating,
        organizer_id=request.organizer_id,
        query=request.query,
    )


def availability_to_proto(event: EventRecord) -> events_pb2.Availability:
    return events_pb2.Availability(
        event_id=str(event.id),
        capacity=event.capacity,
        seats_taken=event.seats_taken,
        seats_available=event.seats_available,
        state=_STATE_TO_PROTO[event.state],
    )


def tag_to_proto(tag: TagCount) -> events_pb2.Tag:
    return events_pb2.Tag(name=tag.name, event_count=tag.event_count)


def review_to_proto(review: ReviewRecord, *, author_name: str, reveal_attendance: bool) -> events_pb2.Review:
    """A review as one viewer sees it: the booking and author ids only when `reveal_attendance`
    (domain.reveals_attendance); everyone sees the author's public name."""
    return events_pb2.Review(
        id=str(review.id),
        event_id=str(review.event_id),
        booking_id=review.booking_id if reveal_attendance else "",
        author_id=review.author_id if reveal_attendance else "",
        event_rating=review.event_rating,
        host_rating=review.host_rating,
        comment=review.comment,
        create_time=timestamp(review.create_time),
        author_name=author_name,
    )


def review_from_bus(
    review: bookings_pb2.BookingReview, *, review_id: uuid.UUID, received_at: datetime
) -> ReviewRecord:
    """A review bookings published, to be stored as `review_id`; `received_at` stands in for a
    missing create_time."""
    return ReviewRecord(
        id=review_id,
        event_id=uuid.UUID(review.event_id),
        booking_id=review.booking_id,
        author_id=review.guest_id,
        event_rating=review.event_rating,
        host_rating=review.host_rating,
        comment=review.comment,
        create_time=moment(review.create_time) if review.HasField("create_time") else received_at,
    )


# -- the bus events events publishes ---------------------------------------------------------------


def event_created(event: EventRecord) -> bus_pb2.EventCreated:
    return bus_pb2.EventCreated(event=event_to_proto(event))


def event_updated(
    updated: EventRecord, previous: EventRecord, notable: tuple[str, ...]
) -> bus_pb2.EventUpdated:
    return bus_pb2.EventUpdated(
        event=event_to_proto(updated),
        changed_fields=notable,
        previous_start_time=timestamp(previous.start_time),
        previous_end_time=timestamp(previous.end_time),
        previous_venue=previous.venue,
        previous_city=previous.city,
    )


def event_cancelled(event: EventRecord, reason: str, cancelled_by: str) -> bus_pb2.EventCancelled:
    return bus_pb2.EventCancelled(event=event_to_proto(event), reason=reason, cancelled_by=cancelled_by)


def event_completed(event: EventRecord) -> bus_pb2.EventCompleted:
    return bus_pb2.EventCompleted(event=event_to_proto(event))


def event_deleted(event: EventRecord, deleted_by: str) -> bus_pb2.EventDeleted:
    return bus_pb2.EventDeleted(event=event_to_proto(event), deleted_by=deleted_by)
