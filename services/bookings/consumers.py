"""What bookings does when events announces a change (bus stream "events").

Each handler runs inside the inbox transaction, so its database effects happen exactly once even
when a message is delivered twice. Calls to events (releases, promotions) happen after, from the
reconciler and the promoter, never inside the handler's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from services.bookings import convert
from services.bookings.cache import EventFactsCache
from services.bookings.store import BookingTransaction
from services.runtime.bus.consumer import Handler


class BookingConsumers:
    def __init__(
        self,
        facts: EventFactsCache,
        *,
        releases_due: Callable[[], Awaitable[None]],
        seats_may_be_free: Callable[[str], None],
    ) -> None:
        self.facts = facts
        self.releases_due = releases_due
        self.seats_may_be_free = seats_may_be_free

    def handlers(self) -> dict[str, Handler[BookingTransaction]]:
        return {
            events_bus_pb2.EventCancelled.DESCRIPTOR.full_name: self.on_event_cancelled,
            events_bus_pb2.EventUpdated.DESCRIPTOR.full_name: self.on_event_updated,
            events_bus_pb2.EventCompleted.DESCRIPTOR.full_name: self.on_event_completed,
        }

    async def on_event_cancelled(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Every active booking of the event is cancelled; seats it held are released after."""
        assert isinstance(message, events_bus_pb2.EventCancelled)
        self.facts.forget(message.event.id)
        ended = await tx.cancel_event_bookings(message.event.id, message.reason)
        await tx.publish_all(convert.booking_cancelled(booking, previous) for booking, previous in ended)
        if ended:
            # The releases are due now; the reconciler finds them once this transaction commits.
            tx.after_commit(self.releases_due)

    async def on_event_updated(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """The bookings' copy of the event follows it (a new start time included)."""
        assert isinstance(message, events_bus_pb2.EventUpdated)
        self.facts.forget(message.event.id)
        await tx.apply_event_update(convert.event_facts_from_proto(message.event))
        # A larger capacity may let waitlisted bookings in.
        self.seats_may_be_free(message.event.id)

    async def on_event_completed(
        self, tx: BookingTransaction, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Reviews and guest ratings open for the event's confirmed bookings."""
        assert isinstance(message, events_bus_pb2.EventCompleted)
        self.facts.forget(message.event.id)
        await tx.mark_completed(message.event.id)
