"""What events does with other services' bus events: bookings' reviews become ratings.

Handlers run inside the consumer's EventTransaction together with the inbox row, so a review
delivered twice counts once; the cache is bumped only once that transaction committed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from google.protobuf import message as protobuf_message

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from services.events.cache import EventCache
from services.events.convert import review_from_bus
from services.events.domain import review_problems
from services.events.store import EventTransaction
from services.runtime.bus.consumer import Handler

log = logging.getLogger(__name__)


class EventConsumers:
    def __init__(self, cache: EventCache) -> None:
        self.cache = cache

    def handlers(self) -> dict[str, Handler[EventTransaction]]:
        return {bookings_bus_pb2.ReviewSubmitted.DESCRIPTOR.full_name: self.on_review_submitted}

    async def on_review_submitted(
        self, tx: EventTransaction, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        """One review per booking, exact sums on the event."""
        assert isinstance(message, bookings_bus_pb2.ReviewSubmitted)
        submitted = message.review
        problems = review_problems(submitted.event_rating, submitted.host_rating, submitted.booking_id)
        if problems:
            # Not retryable: the consumer dead-letters it after its attempts, visibly.
            raise ValueError("unusable review: " + "; ".join(problems))
        review = review_from_bus(submitted, review_id=uuid.uuid4(), received_at=datetime.now(UTC))
        rated = await tx.add_review(review)
        if rated is None:
            log.warning(
                "review not recorded: unknown event or booking reviewed before",
                extra={"event_id": submitted.event_id, "booking_id": submitted.booking_id},
            )
            return
        # Ratings move events in `rating desc` and `min_rating` lists: lists too.
        tx.after_commit(self.cache.invalidate, [str(rated.id)], lists=True)
