"""Bus events the users service consumes: ratings from bookings, for the public profile.

Each handler runs inside the consumer's inbox transaction (a `UserTransaction`); on top of that the
ratings table is keyed by (booking, kind), so even an event that slipped past the inbox counts once.
"""

from __future__ import annotations

from google.protobuf import message as protobuf_message

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from services.runtime.bus.consumer import Handler
from services.users import convert
from services.users.domain import Rating
from services.users.store import UserTransaction


class UserConsumers:
    def handlers(self) -> dict[str, Handler[UserTransaction]]:
        return {
            bookings_bus_pb2.ReviewSubmitted.DESCRIPTOR.full_name: self.on_review_submitted,
            bookings_bus_pb2.GuestRated.DESCRIPTOR.full_name: self.on_guest_rated,
        }

    async def on_review_submitted(
        self, tx: UserTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        """A guest reviewed an event they attended: the host's rating."""
        assert isinstance(message, bookings_bus_pb2.ReviewSubmitted)
        await self._record(tx, convert.host_rating_from_proto(message))

    async def on_guest_rated(
        self, tx: UserTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        """A host rated a guest of their event: the guest's rating."""
        assert isinstance(message, bookings_bus_pb2.GuestRated)
        await self._record(tx, convert.guest_rating_from_proto(message))

    async def _record(self, tx: UserTransaction, rating: Rating | None) -> None:
        if rating is not None:  # None: that side was not rated
            await tx.record_rating(rating)
