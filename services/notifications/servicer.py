"""gRPC handlers of NotificationService: proto <-> domain, and who may do what.

Every caller sees and changes only their own inbox and preferences. SendNotification is for
organizers (to the confirmed attendees of their own events) and admins (any event's attendees, or
an announcement to everyone), within limits per sender and per event (throttles.py).
ListDeliveries and ListDeadLetters are for admins. Services have no inbox.

"Everyone" is every user this service has heard of on the bus: each UserRegistered, EmailVerified
and VerificationCodeIssued, and every guest, host and organizer named in booking and event messages
(`known_users`); an account heard of registering is reached only once its address is verified.
The consumer group reads the users stream from its beginning, so that is every account registered
while the stream still holds its UserRegistered (it keeps the last million messages); accounts
older than that appear once they book or organize something.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import grpc

from seatmesh.notifications.v1 import notifications_pb2 as pb
from services.notifications import content, convert
from services.notifications.clients.events import EventsClient
from services.notifications.content import Links
from services.notifications.dead_letters import DeadLetterLog
from services.notifications.domain.kinds import ATTENDING_STATES
from services.notifications.domain.messages import Content, EventSummary
from services.notifications.domain.records import (
    DeadLetter,
    Delivery,
    InboxEntry,
    ToEventGuests,
    ToEveryoneKnown,
)
from services.notifications.domain.rules import (
    Send,
    check_may_write_to_attendees,
    effective_preferences,
    send_key,
    validate_preferences,
    validate_send,
)
from services.notifications.live import INTERRUPTED, LiveFeed
from services.notifications.store import NotificationStore
from services.notifications.throttles import SendThrottle
from services.runtime.app import method_access
from services.runtime.auth import Principal, Role, require_principal, require_role
from services.runtime.errors import not_found, parse_uuid, permission_denied, unavailable
from services.runtime.idempotency import fingerprint, replay, request_id_or_none
from services.runtime.pagination import PageTokens, page_size

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["NotificationService"]
ACCESS = method_access(SERVICE)

# Inbox and deliveries are listed newest first by (create time, id); dead letters by entry id.
TIME_KEY = (datetime, uuid.UUID)
ENTRY_KEY = (str,)
DEAD_LETTERS = {"stream": "dead"}


def _user_id(principal: Principal) -> str:
    """The caller's own user id; services (and odd subjects) have no inbox."""
    try:
        return str(uuid.UUID(principal.subject))
    except ValueError:
        raise permission_denied("only users have notifications", reason="USER_REQUIRED") from None


def _time_key(item: InboxEntry | Delivery) -> tuple[datetime, uuid.UUID]:
    return item.created_at, item.id


def _entry_key(letter: DeadLetter) -> tuple[str]:
    return (letter.id,)


class NotificationServiceServicer:
    def __init__(
        self,
        *,
        store: NotificationStore,
        pages: PageTokens,
        feed: LiveFeed,
        dead_letters: DeadLetterLog,
        events: EventsClient,
        links: Links,
        throttle: SendThrottle,
    ) -> None:
        self.store = store
        self.pages = pages
        self.feed = feed
        self.dead_letters = dead_letters
        self.events = events
        self.links = links
        self.throttle = throttle

    # -- the inbox ------------------------------------------------------------------------------------

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListNotificationsResponse:
        user_id = _user_id(require_principal())
        size = page_size(request.page_size)
        filters = {"unread_only": request.unread_only}
        after = self.pages.decode(request.page_token, filters, TIME_KEY)
        entries = await self.store.notifications(
            user_id=user_id, unread_only=request.unread_only, after=after, limit=size + 1
        )
        page, next_token = self.pages.page(entries, size, filters, _time_key)
        return pb.ListNotificationsResponse(
            notifications=[convert.notification_to_proto(entry) for entry in page], next_page_token=next_token
        )

    async def MarkNotificationRead(
        self, request: pb.MarkNotificationReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.Notification:
        user_id = _user_id(require_principal())
        notification_id = parse_uuid(request.notification_id, "notification_id")
        async with self.store.transaction() as tx:
            entry = await tx.mark_read(user_id=user_id, notification_id=notification_id)
        if entry is None:
            # Someone else's notification looks exactly like a missing one.
            raise not_found("notification", request.notification_id)
        return convert.notification_to_proto(entry)

    async def MarkAllNotificationsRead(
        self, request: pb.MarkAllNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkAllNotificationsReadResponse:
        user_id = _user_id(require_principal())
        async with self.store.transaction() as tx:
            count = await tx.mark_all_read(user_id=user_id)
        return pb.MarkAllNotificationsReadResponse(marked_count=count)

    async def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Notification]:
        user_id = _user_id(require_principal())
        async with self.feed.subscribe(user_id) as queue:
            while True:
                ids = [await queue.get()]
                while not queue.empty():
                    ids.append(queue.get_nowait())
                if INTERRUPTED in ids:
                    raise unavailable(
                        "LIVE_FEED_INTERRUPTED",
                        "live notifications were interrupted; list them and watch again",
                    )
                for entry in await self.store.notifications_by_id(user_id=user_id, ids=ids):
                    yield convert.notification_to_proto(entry)

    # -- preferences ----------------------------------------------------------------------------------

    async def GetNotificationPreferences(
        self, request: pb.GetNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotificationPreferences:
        user_id = _user_id(require_principal())
        stored = await self.store.preferences(user_id)
        return convert.preferences_to_proto(effective_preferences(stored))

    async def UpdateNotificationPreferences(
        self, request: pb.UpdateNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotificationPreferences:
        user_id = _user_id(require_principal())
        choices = validate_preferences(
            convert.preference_choices(request.preferences), given=request.HasField("preferences")
        )
        if choices:
            async with self.store.transaction() as tx:
                await tx.save_preferences(user_id, choices)
        stored = await self.store.preferences(user_id)
        return convert.preferences_to_proto(effective_preferences(stored))

    # -- messages from organizers and admins ----------------------------------------------------------

    async def SendNotification(
        self, request: pb.SendNotificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendNotificationResponse:
        principal = require_role(Role.ORGANIZER, Role.ADMIN)
        sender_id = _user_id(principal)
        send = validate_send(convert.send_draft(request), is_admin=principal.is_admin)
        # Without an id the send cannot be repeated, but is recorded the same way.
        request_id = request_id_or_none(request.request_id) or str(uuid.uuid4())
        message, recipients = await self._message(send, principal, sender_id)
        body = fingerprint(request)
        async with self.store.transaction() as tx:
            first = await replay(
                lambda: tx.claim_send(sender_id=sender_id, request_id=request_id, fingerprint=body), body
            )
            if first is not None:
                return pb.SendNotificationResponse(recipient_count=first)
            # Only a new send counts (a repeat sends nothing); refused, the request id stays unused.
            await self.throttle.take(sender_id=sender_id, event_id=send.event_id)
            count = await tx.count_recipients(recipients)
            await tx.notify(
                source_key=send_key(sender_id, request_id),
                content=message,
                recipients=recipients,
                channels=send.channels,
            )
            await tx.record_send(sender_id=sender_id, request_id=request_id, recipient_count=count)
        log.info(
            "notification sent",
            extra={"kind": message.kind, "event_id": send.event_id or "", "recipients": count},
        )
        return pb.SendNotificationResponse(recipient_count=count)

    async def _message(
        self, send: Send, principal: Principal, sender_id: str
    ) -> tuple[Content, ToEventGuests | ToEveryoneKnown]:
        """What is sent to whom: an organizer message to one event's attendees, or an announcement."""
        if send.event_id is None:
            return content.announcement(send.title, send.body, self.links), ToEveryoneKnown()
        event = await self._event_for_sender(send.event_id, principal, sender_id)
        message = content.organizer_message(event, send.title, send.body, self.links)
        return message, ToEventGuests(send.event_id, ATTENDING_STATES)

    async def _event_for_sender(self, event_id: str, principal: Principal, sender_id: str) -> EventSummary:
        """The event, if the sender may write to its attendees (its organizer, or an admin)."""
        # Not seen on the bus yet (no booking, created before we listened): events knows.
        event = await self.store.event(event_id) or await self.events.event(event_id)
        if event is None:
            raise not_found("event", event_id)
        check_may_write_to_attendees(event.organizer_id, sender_id, is_admin=principal.is_admin)
        return event.summary

    # -- admin ----------------------------------------------------------------------------------------

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        require_role(Role.ADMIN)
        state = convert.delivery_state_filter(request.state)
        # The keyset paging steps of ListNotifications (runtime/pagination.py), spelled out as each
        # list of the mesh does: only the filters and the store's read differ.
        size = page_size(request.page_size)
        filters = {"state": state}
        after = self.pages.decode(request.page_token, filters, TIME_KEY)
        deliveries = await self.store.deliveries(state=state, after=after, limit=size + 1)
        page, next_token = self.pages.page(deliveries, size, filters, _time_key)
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery_to_proto(delivery) for delivery in page], next_page_token=next_token
        )

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeadLettersResponse:
        """Newest first, from the mesh's dead-letter stream (every consumer group's)."""
        require_role(Role.ADMIN)
        size = page_size(request.page_size)
        after = self.pages.decode(request.page_token, DEAD_LETTERS, ENTRY_KEY)
        letters = await self.dead_letters.newest(before=after[0] if after else None, limit=size + 1)
        page, next_token = self.pages.page(letters, size, DEAD_LETTERS, _entry_key)
        return pb.ListDeadLettersResponse(
            dead_letters=[convert.dead_letter_to_proto(letter) for letter in page], next_page_token=next_token
        )
