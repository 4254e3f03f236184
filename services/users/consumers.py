"""Bus events the users service consumes: ratings from bookings, for the public profile.

Each handler runs inside the consumer's inbox transaction; on top of that the ratings table is keyed
by (booking, kind), so even an event that slipped past the inbox counts once.
"""

from __future__ import annotations

import uuid

from google.protobuf import message as protobuf_message
from sqlalchemy.ext.asyncio import AsyncConnection

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from services.users import store


async def _record(
    connection: AsyncConnection, *, booking_id: str, kind: str, user_id: str, rating: int
) -> None:
    if rating == 0:
        return  # no rating given for this side
    if not 1 <= rating <= 5:
        # Raised, not skipped: after its retries the message lands in the dead-letter stream.
        raise ValueError(f"{kind} rating {rating} of booking {booking_id} is outside 1..5")
    await store.record_rating(
        connection, booking_id=booking_id, kind=kind, user_id=uuid.UUID(user_id), rating=rating
    )


async def review_submitted(
    connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
) -> None:
    """A guest reviewed an event they attended: the host's rating."""
    assert isinstance(message, bookings_bus_pb2.ReviewSubmitted)
    review = message.review
    await _record(
        connection,
        booking_id=review.booking_id,
        kind="host",
        user_id=review.host_id,
        rating=review.host_rating,
    )


async def guest_rated(
    connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
) -> None:
    """A host rated a guest of their event: the guest's rating."""
    assert isinstance(message, bookings_bus_pb2.GuestRated)
    rating = message.rating
    await _record(
        connection, booking_id=rating.booking_id, kind="guest", user_id=rating.guest_id, rating=rating.rating
    )


HANDLERS = {
    bookings_bus_pb2.ReviewSubmitted.DESCRIPTOR.full_name: review_submitted,
    bookings_bus_pb2.GuestRated.DESCRIPTOR.full_name: guest_rated,
}
