"""Bus handlers: what each event from users, events and bookings turns into.

Each runs inside the consumer's inbox transaction (see services/runtime/bus.py), so its rows —
projection updates, reminder schedule, messages, in-app notifications and deliveries — commit
together with the inbox entry or not at all. Nothing here talks to the network; the delivery
worker sends later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2
from seatmesh.users.v1 import bus_pb2 as users_bus
from seatmesh.users.v1 import users_pb2
from services.notifications import content, store
from services.notifications.content import BookingFacts, EventFacts, Links
from services.notifications.rules import (
    ACTIVE_BOOKING_STATES,
    ATTENDING_STATES,
    ReminderOffsets,
    reminders_for,
)
from services.runtime.bus import Handler
from services.runtime.timestamps import moment_or_none

log = logging.getLogger(__name__)

Kind = notifications_pb2.Kind
BookingState = bookings_pb2.Booking.State
Envelope = envelope_pb2.Envelope


def occurred(envelope: Envelope) -> datetime:
    return moment_or_none(envelope.occurred_at) or datetime.now(UTC)


def booking_event_facts(details: bookings_bus.BookingDetails) -> EventFacts:
    start = moment_or_none(details.event_start_time) or datetime.now(UTC)
    return EventFacts(
        event_id=details.event_id,
        title=details.event_title,
        start_time=start,
        end_time=moment_or_none(details.event_end_time) or start,
        time_zone=details.event_time_zone,
        city=details.event_city,
        venue=details.event_venue,
    )


def event_facts(event: events_pb2.Event) -> EventFacts:
    start = moment_or_none(event.start_time) or datetime.now(UTC)
    return EventFacts(
        event_id=event.id,
        title=event.title,
        start_time=start,
        end_time=moment_or_none(event.end_time) or start,
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
    )


def state_name(state: int) -> str:
    return BookingState.Name(state)  # type: ignore[arg-type]


class Triggers:
    def __init__(self, *, links: Links, offsets: ReminderOffsets) -> None:
        self.links = links
        self.offsets = offsets

    def handlers(self) -> dict[str, Handler]:
        table: Mapping[type[Message], Any] = {
            users_bus.UserRegistered: self.user_registered,
            users_bus.VerificationCodeIssued: self.verification_code_issued,
            bookings_bus.BookingConfirmed: self.booking_confirmed,
            bookings_bus.BookingAwaitingApproval: self.booking_awaiting_approval,
            bookings_bus.BookingApproved: self.booking_approved,
            bookings_bus.BookingRejected: self.booking_rejected,
            bookings_bus.BookingExpired: self.booking_expired,
            bookings_bus.BookingWaitlisted: self.booking_waitlisted,
            bookings_bus.BookingPromoted: self.booking_promoted,
            bookings_bus.BookingCancelled: self.booking_cancelled,
            events_bus.EventCreated: self.event_created,
            events_bus.EventUpdated: self.event_updated,
            events_bus.EventCancelled: self.event_cancelled,
            events_bus.EventCompleted: self.event_completed,
        }
        return {message.DESCRIPTOR.full_name: handler for message, handler in table.items()}

    # -- users ----------------------------------------------------------------------------------

    async def user_registered(
        self, connection: AsyncConnection, envelope: Envelope, message: users_bus.UserRegistered
    ) -> None:
        await store.remember_users(connection, [message.user_id])
        welcome = content.welcome(organizer=message.role == users_pb2.ROLE_ORGANIZER, links=self.links)
        await store.notify(
            connection,
            source_key=envelope.event_id,
            content=welcome,
            recipients=store.recipients_by_id([message.user_id]),
        )

    async def verification_code_issued(
        self, connection: AsyncConnection, envelope: Envelope, message: users_bus.VerificationCodeIssued
    ) -> None:
        await store.remember_users(connection, [message.user_id])
        code = content.verification_code(
            code=message.code,
            display_name=message.display_name,
            expire_time=moment_or_none(message.expire_time),
            now=occurred(envelope),
        )
        # Security mail: to the address being verified (which may not be the account's current
        # one yet), by email, whatever the preferences say.
        await store.notify(
            connection,
            source_key=envelope.event_id,
            content=code,
            recipients=store.recipients_by_id([message.user_id]),
            address=message.email,
        )

    # -- bookings -------------------------------------------------------------------------------

    async def _apply(
        self,
        connection: AsyncConnection,
        envelope: Envelope,
        details: bookings_bus.BookingDetails,
        state: str,
    ) -> BookingFacts | None:
        """Update the projection; None when this message is older than what we know (don't notify)."""
        booking, _ = await self._apply_after(connection, envelope, details, state)
        return booking

    async def _apply_after(
        self,
        connection: AsyncConnection,
        envelope: Envelope,
        details: bookings_bus.BookingDetails,
        state: str,
    ) -> tuple[BookingFacts | None, str | None]:
        """`_apply`, and the booking's state before this message (None when it was unknown)."""
        told = booking_event_facts(details)
        applied = await store.apply_booking(
            connection,
            booking_id=details.booking_id,
            guest_id=details.guest_id,
            host_id=details.host_id,
            seats=details.seats,
            state=state,
            changed_at=occurred(envelope),
            event=told,
        )
        if not applied.fresh:
            log.info(
                "booking event older than the known state; not notified",
                extra={"booking_id": details.booking_id, "type": envelope.type},
            )
            return None, applied.previous_state
        # The events service's view of the event (title, time, venue) wins over the booking's copy.
        booking = BookingFacts(
            booking_id=details.booking_id,
            seats=details.seats,
            event=applied.event or told,
            waitlist_position=details.waitlist_position,
        )
        return booking, applied.previous_state

    async def _to(
        self, connection: AsyncConnection, envelope: Envelope, user_id: str, message: content.Content
    ) -> None:
        await store.notify(
            connection,
            source_key=envelope.event_id,
            content=message,
            recipients=store.recipients_by_id([user_id]),
        )

    async def _schedule_reminders(
        self,
        connection: AsyncConnection,
        envelope: Envelope,
        details: bookings_bus.BookingDetails,
        booking: BookingFacts,
    ) -> None:
        await store.schedule_reminders(
            connection,
            booking_id=details.booking_id,
            event_id=details.event_id,
            guest_id=details.guest_id,
            start_time=booking.event.start_time,
            due=reminders_for(booking.event.start_time, occurred(envelope), self.offsets),
        )

    async def booking_confirmed(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingConfirmed
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "CONFIRMED")
        if booking is None:
            return
        await self._to(connection, envelope, details.guest_id, content.booking_confirmed(booking, self.links))
        await self._schedule_reminders(connection, envelope, details, booking)

    async def booking_awaiting_approval(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingAwaitingApproval
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "AWAITING_APPROVAL")
        if booking is None:
            return
        expire_time = moment_or_none(message.expire_time)
        await self._to(
            connection, envelope, details.guest_id, content.request_sent(booking, expire_time, self.links)
        )
        await self._to(
            connection,
            envelope,
            details.host_id,
            content.approval_requested(booking, expire_time, self.links),
        )

    async def booking_approved(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingApproved
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "CONFIRMED")
        if booking is None:
            return
        await self._to(connection, envelope, details.guest_id, content.booking_approved(booking, self.links))
        await self._schedule_reminders(connection, envelope, details, booking)

    async def booking_rejected(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingRejected
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "REJECTED")
        await store.drop_booking_reminders(connection, details.booking_id)
        if booking is None:
            return
        cause = bookings_bus.BookingRejected.Cause.Name(message.cause)
        await self._to(
            connection,
            envelope,
            details.guest_id,
            content.booking_rejected(booking, cause, message.reason, self.links),
        )

    async def booking_expired(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingExpired
    ) -> None:
        details = message.booking
        booking, previous = await self._apply_after(connection, envelope, details, "EXPIRED")
        await store.drop_booking_reminders(connection, details.booking_id)
        if booking is None:
            return
        await self._to(
            connection,
            envelope,
            details.guest_id,
            content.booking_expired(booking, previous or "", self.links),
        )

    async def booking_waitlisted(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingWaitlisted
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "WAITLISTED")
        if booking is None:
            return
        await self._to(
            connection, envelope, details.guest_id, content.booking_waitlisted(booking, self.links)
        )

    async def booking_promoted(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingPromoted
    ) -> None:
        details = message.booking
        awaiting = details.state == BookingState.AWAITING_APPROVAL
        booking = await self._apply(
            connection, envelope, details, "AWAITING_APPROVAL" if awaiting else "CONFIRMED"
        )
        if booking is None:
            return
        await self._to(
            connection, envelope, details.guest_id, content.booking_promoted(booking, awaiting, self.links)
        )
        if awaiting:
            await self._to(
                connection, envelope, details.host_id, content.approval_requested(booking, None, self.links)
            )
        else:
            await self._schedule_reminders(connection, envelope, details, booking)

    async def booking_cancelled(
        self, connection: AsyncConnection, envelope: Envelope, message: bookings_bus.BookingCancelled
    ) -> None:
        details = message.booking
        booking = await self._apply(connection, envelope, details, "CANCELLED")
        await store.drop_booking_reminders(connection, details.booking_id)
        if booking is None:
            return
        actor = bookings_bus.BookingCancelled.Actor.Name(message.cancelled_by)
        previous = state_name(message.previous_state)
        if actor == "EVENT_CANCELLED":
            # The same notification EventCancelled sends, under the same key: whichever of the two
            # messages is handled first notifies this guest, the other finds it done.
            if previous in ACTIVE_BOOKING_STATES or message.previous_state == BookingState.STATE_UNSPECIFIED:
                await store.notify(
                    connection,
                    source_key=event_cancelled_key(details.event_id),
                    content=content.event_cancelled(booking.event, message.reason, self.links),
                    recipients=store.recipients_by_id([details.guest_id]),
                )
            return
        await self._to(
            connection,
            envelope,
            details.guest_id,
            content.booking_cancelled(booking, actor, message.reason, self.links),
        )
        if actor == "GUEST" and previous in ("CONFIRMED", "AWAITING_APPROVAL"):
            await self._to(
                connection,
                envelope,
                details.host_id,
                content.guest_cancelled(booking, message.reason, self.links),
            )

    # -- events ---------------------------------------------------------------------------------

    async def _apply_event(
        self, connection: AsyncConnection, envelope: Envelope, event: events_pb2.Event, default_state: str
    ) -> bool:
        await store.remember_users(connection, [event.organizer_id])
        version = moment_or_none(event.update_time) or moment_or_none(event.create_time) or occurred(envelope)
        return await store.apply_event(
            connection,
            event_facts(event),
            organizer_id=event.organizer_id,
            state=events_pb2.Event.State.Name(event.state) if event.state else default_state,
            version=version,
        )

    async def event_created(
        self, connection: AsyncConnection, envelope: Envelope, message: events_bus.EventCreated
    ) -> None:
        await self._apply_event(connection, envelope, message.event, "SCHEDULED")

    async def event_updated(
        self, connection: AsyncConnection, envelope: Envelope, message: events_bus.EventUpdated
    ) -> None:
        event = message.event
        fresh = await self._apply_event(connection, envelope, event, "SCHEDULED")
        facts = event_facts(event)
        change = content.EventChange(
            changed_fields=list(message.changed_fields),
            previous_start_time=moment_or_none(message.previous_start_time),
            previous_end_time=moment_or_none(message.previous_end_time),
            previous_venue=message.previous_venue,
            previous_city=message.previous_city,
        )
        # Guests hear of every change, even one superseded by a later update we already know: it
        # happened, and its message describes it. Only the newest version moves reminders.
        await store.notify(
            connection,
            source_key=envelope.event_id,
            content=content.event_updated(facts, change, self.links),
            recipients=store.event_guests(event.id, ACTIVE_BOOKING_STATES),
        )
        if fresh and "start_time" in message.changed_fields:
            await store.rearm_event_reminders(
                connection,
                event_id=event.id,
                start_time=facts.start_time,
                offsets=self.offsets,
                changed_at=occurred(envelope),
            )

    async def event_cancelled(
        self, connection: AsyncConnection, envelope: Envelope, message: events_bus.EventCancelled
    ) -> None:
        event = message.event
        await self._apply_event(connection, envelope, event, "CANCELLED")
        await store.drop_event_reminders(connection, event.id)
        await store.notify(
            connection,
            source_key=event_cancelled_key(event.id),
            content=content.event_cancelled(event_facts(event), message.reason, self.links),
            recipients=store.event_guests(event.id, ACTIVE_BOOKING_STATES),
        )

    async def event_completed(
        self, connection: AsyncConnection, envelope: Envelope, message: events_bus.EventCompleted
    ) -> None:
        event = message.event
        await self._apply_event(connection, envelope, event, "COMPLETED")
        await store.drop_event_reminders(connection, event.id)
        await store.notify(
            connection,
            source_key=f"event-completed:{event.id}",
            content=content.rate_event(event_facts(event), self.links),
            recipients=store.event_guests(event.id, ATTENDING_STATES),
        )


def event_cancelled_key(event_id: str) -> str:
    return f"event-cancelled:{event_id}"
