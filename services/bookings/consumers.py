"""What bookings does when events announces a change (bus stream "events").

Each handler runs inside the inbox transaction, so its database effects happen exactly once even
when a message is delivered twice. Calls to events (releases, promotions) happen after, from the
reconciler and the promoter, never inside the handler's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from services.bookings import messages, store
from services.bookings.inventory import EventCache, event_facts
from services.runtime.bus import Handler


class EventChanges:
    def __init__(
        self,
        cache: EventCache,
        *,
        releases_due: Callable[[], None],
        seats_may_be_free: Callable[[str], None],
    ) -> None:
        self.cache = cache
        self.releases_due = releases_due
        self.seats_may_be_free = seats_may_be_free

    def handlers(self) -> dict[str, Handler]:
        return {
            events_bus_pb2.EventCancelled.DESCRIPTOR.full_name: self.on_cancelled,
            events_bus_pb2.EventUpdated.DESCRIPTOR.full_name: self.on_updated,
            events_bus_pb2.EventCompleted.DESCRIPTOR.full_name: self.on_completed,
        }

    async def on_cancelled(
        self, connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Every active booking of the event is cancelled; seats it held are released after."""
        assert isinstance(message, events_bus_pb2.EventCancelled)
        self.cache.forget(message.event.id)
        ended = await store.cancel_event_bookings(connection, message.event.id, message.reason)
        await store.publish_all(
            connection, [messages.cancelled(booking, previous) for booking, previous in ended]
        )
        if ended:
            # The releases are due now; the reconciler finds them once this transaction commits.
            self.releases_due()

    async def on_updated(
        self, connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """The bookings' copy of the event follows it (a new start time included)."""
        assert isinstance(message, events_bus_pb2.EventUpdated)
        self.cache.forget(message.event.id)
        await store.apply_event_update(connection, event_facts(message.event))
        # A larger capacity may let waitlisted bookings in.
        self.seats_may_be_free(message.event.id)

    async def on_completed(
        self, connection: AsyncConnection, envelope: envelope_pb2.Envelope, message: Message
    ) -> None:
        """Reviews and guest ratings open for the event's confirmed bookings."""
        assert isinstance(message, events_bus_pb2.EventCompleted)
        self.cache.forget(message.event.id)
        await store.mark_completed(connection, message.event.id)
