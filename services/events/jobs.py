"""Background work of the events service: completing events whose end time passed, and the
bus consumer that turns bookings' reviews into ratings."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from google.protobuf import message as protobuf_message
from sqlalchemy.ext.asyncio import AsyncConnection

from seatmesh.bookings.v1 import bus_pb2 as bookings_bus_pb2
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2
from services.events.availability import availability_message
from services.events.cache import EventCache
from services.events.convert import event_to_proto, moment
from services.events.rules import ReviewRecord, review_problems
from services.events.store import EventStore, EventWriter
from services.runtime.bus import Handler, after_commit

log = logging.getLogger(__name__)


@dataclass
class CompletionJob:
    """Marks ended events COMPLETED (emitting EventCompleted). Safe with any number of replicas:
    each batch locks its rows with SKIP LOCKED, so two replicas never complete the same event."""

    store: EventStore
    cache: EventCache
    redis_prefix: str
    interval: float
    batch: int

    async def run(self) -> None:
        while True:
            try:
                while await self.complete_once() == self.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("completion job failed; will retry", exc_info=True)
            await asyncio.sleep(self.interval)

    async def complete_once(self) -> int:
        async with self.store.transaction() as tx:
            completed = await tx.complete_due(self.batch)
            for event in completed:
                await tx.publish(bus_pb2.EventCompleted(event=event_to_proto(event)))
        if completed:
            await self.cache.invalidate(
                [str(event.id) for event in completed],
                lists=True,
                messages=[availability_message(self.redis_prefix, event) for event in completed],
            )
            log.info("events completed", extra={"count": len(completed)})
        return len(completed)


@dataclass
class ReviewIntake:
    """Handles `seatmesh.bookings.v1.ReviewSubmitted`: one review per booking, exact sums on the
    event. The cache is bumped once the consumer's transaction committed (handlers run inside it)."""

    cache: EventCache
    redis_prefix: str

    @property
    def handlers(self) -> Mapping[str, Handler]:
        return {bookings_bus_pb2.ReviewSubmitted.DESCRIPTOR.full_name: self.on_review_submitted}

    async def on_review_submitted(
        self, connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: protobuf_message.Message
    ) -> None:
        assert isinstance(message, bookings_bus_pb2.ReviewSubmitted)
        submitted = message.review
        problems = review_problems(submitted.event_rating, submitted.host_rating, submitted.booking_id)
        if problems:
            # Not retryable: the consumer dead-letters it after its attempts, visibly.
            raise ValueError("unusable review: " + "; ".join(problems))
        review = ReviewRecord(
            id=uuid.uuid4(),
            event_id=uuid.UUID(submitted.event_id),
            booking_id=submitted.booking_id,
            author_id=submitted.guest_id,
            event_rating=submitted.event_rating,
            host_rating=submitted.host_rating,
            comment=submitted.comment,
            create_time=moment(submitted.create_time)
            if submitted.HasField("create_time")
            else datetime.now(UTC),
        )
        rated = await EventWriter(connection).add_review(review)
        if rated is None:
            log.warning(
                "review not recorded: unknown event or booking reviewed before",
                extra={"event_id": submitted.event_id, "booking_id": submitted.booking_id},
            )
            return
        # Ratings move events in `rating desc` and `min_rating` lists: lists too.
        after_commit(partial(self.cache.invalidate, [str(rated.id)], lists=True))
