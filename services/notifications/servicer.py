"""gRPC handlers of NotificationService: proto <-> domain, and who may do what.

Every caller sees and changes only their own inbox and preferences. SendNotification is for
organizers (to the confirmed attendees of their own events) and admins (any event's attendees, or
an announcement to everyone). ListDeliveries and ListDeadLetters are for admins. Services have no
inbox.

"Everyone" is every user this service has heard of on the bus: each UserRegistered and
VerificationCodeIssued, and every guest, host and organizer named in booking and event messages
(`known_users`). The consumer group reads the users stream from its beginning, so that is every
account registered while the stream still holds its UserRegistered (it keeps the last million
messages); accounts older than that appear once they book or organize something.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from seatmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.notifications import content, store
from services.notifications.content import EventFacts, Links
from services.notifications.handlers import event_facts
from services.notifications.live import INTERRUPTED, LiveFeed
from services.notifications.rules import (
    ATTENDING_STATES,
    CHANNEL_NAMES,
    SECURITY_KINDS,
    ChannelChoice,
    configurable_kinds,
    effective_preferences,
    kind_name,
    kind_number,
    requested_channels,
)
from services.runtime.app import method_access
from services.runtime.auth import Principal, Role, require_principal, require_role
from services.runtime.bus import DEAD_LETTER_STREAM
from services.runtime.errors import (
    Violations,
    bad_field,
    not_found,
    parse_uuid,
    permission_denied,
    unavailable,
)
from services.runtime.pagination import decode_token, encode_token, page_size
from services.runtime.timestamps import timestamp

log = logging.getLogger(__name__)

SERVICE = notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"]
ACCESS = method_access(SERVICE)

pb = notifications_pb2
DELIVERY_STATES = {pb.Delivery.PENDING: "PENDING", pb.Delivery.SENT: "SENT", pb.Delivery.FAILED: "FAILED"}


def _user_id(principal: Principal) -> str:
    """The caller's own user id; services (and odd subjects) have no inbox."""
    try:
        return str(uuid.UUID(principal.subject))
    except ValueError:
        raise permission_denied("only users have notifications", reason="USER_REQUIRED") from None


def notification_proto(row: Any) -> pb.Notification:
    message = pb.Notification(
        id=str(row.id),
        kind=kind_number(row.kind),  # type: ignore[arg-type]
        title=row.title,
        body=row.body,
        link=row.link,
        read=row.read_at is not None,
    )
    message.create_time.CopyFrom(timestamp(row.created_at))
    return message


def delivery_proto(row: Any) -> pb.Delivery:
    message = pb.Delivery(
        id=str(row.id),
        kind=kind_number(row.kind),  # type: ignore[arg-type]
        channel={"EMAIL": pb.CHANNEL_EMAIL, "SMS": pb.CHANNEL_SMS}[row.channel],
        recipient_id=str(row.recipient_id),
        address=row.address or "",
        state=pb.Delivery.State.Value(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
    )
    message.create_time.CopyFrom(timestamp(row.created_at))
    message.update_time.CopyFrom(timestamp(row.updated_at))
    return message


def _key_after(token: list[Any] | None) -> tuple[datetime, uuid.UUID] | None:
    if token is None:
        return None
    try:
        return datetime.fromisoformat(str(token[0])), uuid.UUID(str(token[1]))
    except (ValueError, IndexError):
        raise bad_field("page_token", "is not a page token this API issued") from None


class NotificationServiceServicer(notifications_pb2_grpc.NotificationServiceServicer):
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        redis: aioredis.Redis,
        redis_prefix: str,
        feed: LiveFeed,
        links: Links,
        events: events_pb2_grpc.EventServiceStub,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.redis_prefix = redis_prefix
        self.feed = feed
        self.links = links
        self.events = events

    # -- the inbox ------------------------------------------------------------------------------

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListNotificationsResponse:
        user_id = _user_id(require_principal())
        size = page_size(request.page_size)
        filters = {"unread_only": request.unread_only}
        after = _key_after(decode_token(request.page_token, filters))
        async with self.engine.connect() as connection:
            rows = await store.list_notifications(
                connection, user_id=user_id, unread_only=request.unread_only, after=after, limit=size + 1
            )
        response = pb.ListNotificationsResponse(
            notifications=[notification_proto(row) for row in rows[:size]]
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = encode_token([last.created_at.isoformat(), str(last.id)], filters)
        return response

    async def MarkNotificationRead(
        self, request: pb.MarkNotificationReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.Notification:
        user_id = _user_id(require_principal())
        if not request.notification_id:
            raise bad_field("notification_id", "is required")
        notification_id = parse_uuid(request.notification_id, "notification_id")
        async with self.engine.begin() as connection:
            row = await store.mark_read(connection, user_id=user_id, notification_id=notification_id)
        if row is None:
            # Someone else's notification looks exactly like a missing one.
            raise not_found("notification", request.notification_id)
        return notification_proto(row)

    async def MarkAllNotificationsRead(
        self, request: pb.MarkAllNotificationsReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkAllNotificationsReadResponse:
        user_id = _user_id(require_principal())
        async with self.engine.begin() as connection:
            count = await store.mark_all_read(connection, user_id=user_id)
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
                async with self.engine.connect() as connection:
                    rows = await store.notifications_by_id(connection, user_id=user_id, ids=ids)
                for row in rows:
                    yield notification_proto(row)

    # -- preferences ----------------------------------------------------------------------------

    async def GetNotificationPreferences(
        self, request: pb.GetNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotificationPreferences:
        user_id = _user_id(require_principal())
        async with self.engine.connect() as connection:
            stored = await store.load_preferences(connection, user_id)
        return self._preferences_proto(stored)

    async def UpdateNotificationPreferences(
        self, request: pb.UpdateNotificationPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NotificationPreferences:
        user_id = _user_id(require_principal())
        violations = Violations()
        if not request.HasField("preferences"):
            violations.add("preferences", "is required")
        choices: dict[int, ChannelChoice] = {}
        allowed = set(configurable_kinds())
        for index, entry in enumerate(request.preferences.kinds):
            path = f"preferences.kinds[{index}].kind"
            if entry.kind in SECURITY_KINDS:
                violations.add(path, "security messages are always emailed; they have no preferences")
            elif entry.kind not in allowed:
                violations.add(path, "must be a notification kind")
            elif entry.kind in choices:
                violations.add(path, "is listed twice")
            else:
                choices[entry.kind] = ChannelChoice(in_app=entry.in_app, email=entry.email, sms=entry.sms)
        violations.raise_if_any()
        async with self.engine.begin() as connection:
            await store.save_preferences(connection, user_id, choices)
            stored = await store.load_preferences(connection, user_id)
        return self._preferences_proto(stored)

    @staticmethod
    def _preferences_proto(stored: dict[int, ChannelChoice]) -> pb.NotificationPreferences:
        return pb.NotificationPreferences(
            kinds=[
                pb.KindPreference(kind=kind, in_app=choice.in_app, email=choice.email, sms=choice.sms)  # type: ignore[arg-type]
                for kind, choice in effective_preferences(stored).items()
            ]
        )

    # -- messages from organizers and admins ----------------------------------------------------

    async def SendNotification(
        self, request: pb.SendNotificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendNotificationResponse:
        principal = require_role(Role.ORGANIZER, Role.ADMIN)
        sender_id = _user_id(principal)
        violations = Violations()
        title, body = request.title.strip(), request.body.strip()
        violations.check(1 <= len(title) <= 200, "title", "must be 1–200 characters")
        violations.check(1 <= len(body) <= 5000, "body", "must be 1–5,000 characters")
        for index, channel in enumerate(request.channels):
            violations.check(channel in CHANNEL_NAMES, f"channels[{index}]", "must be IN_APP, EMAIL or SMS")
        violations.check(len(request.request_id) <= 200, "request_id", "must be at most 200 characters")
        if request.event_id:
            try:
                uuid.UUID(request.event_id)
            except ValueError:
                violations.add("event_id", "must be an event id")
        elif not principal.is_admin:
            violations.add(
                "event_id", "is required: organizers write to the attendees of one of their events"
            )
        violations.raise_if_any()

        channels = requested_channels(request.channels)
        if request.event_id:
            event = await self._event_for_sender(request.event_id, principal, sender_id)
            message = content.organizer_message(event, title, body, self.links)
            recipients = store.event_guests(request.event_id, ATTENDING_STATES)
        else:
            message = content.announcement(title, body, self.links)
            recipients = store.everyone_known()

        request_id = request.request_id or str(uuid.uuid4())
        fingerprint = hashlib.sha256(
            json.dumps([request.event_id, title, body, sorted(channels)], separators=(",", ":")).encode()
        ).hexdigest()
        async with self.engine.begin() as connection:
            prior = await store.claim_send(
                connection, sender_id=sender_id, request_id=request_id, fingerprint=fingerprint
            )
            if prior is not None:
                if prior.fingerprint != fingerprint:
                    raise bad_field(
                        "request_id", "was already used for a different message", reason="REQUEST_ID_REUSED"
                    )
                return pb.SendNotificationResponse(recipient_count=prior.recipient_count)
            count = await store.count_recipients(connection, recipients)
            await store.notify(
                connection,
                source_key=f"send:{sender_id}:{request_id}",
                content=message,
                recipients=recipients,
                channels=channels,
            )
            await store.record_send(
                connection, sender_id=sender_id, request_id=request_id, recipient_count=count
            )
        log.info(
            "notification sent",
            extra={"kind": kind_name(message.kind), "event_id": request.event_id, "recipients": count},
        )
        return pb.SendNotificationResponse(recipient_count=count)

    async def _event_for_sender(self, event_id: str, principal: Principal, sender_id: str) -> EventFacts:
        """The event, if the sender may write to its attendees (its organizer, or an admin)."""
        async with self.engine.connect() as connection:
            organizer = await store.event_organizer(connection, event_id)
            facts = await store.event_facts(connection, event_id)
        if organizer is None or facts is None:
            # Not seen on the bus yet (no booking, created before we listened): ask events.
            try:
                reply = await self.events.BatchGetEvents(
                    events_pb2.BatchGetEventsRequest(event_ids=[event_id]), timeout=3.0
                )
            except grpc.aio.AioRpcError as error:
                log.warning("events.BatchGetEvents failed", extra={"code": error.code().name})
                raise unavailable("EVENTS_UNAVAILABLE", "could not look the event up; try again") from None
            if not reply.events:
                raise not_found("event", event_id)
            found = reply.events[0]
            organizer, facts = found.organizer_id, event_facts(found)
        if not principal.is_admin and organizer != sender_id:
            raise permission_denied(
                "you can write only to the attendees of your own events", reason="NOT_EVENT_ORGANIZER"
            )
        return facts

    # -- admin ----------------------------------------------------------------------------------

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        require_role(Role.ADMIN)
        if request.state and request.state not in DELIVERY_STATES:
            raise bad_field("state", "must be PENDING, SENT or FAILED")
        state = DELIVERY_STATES.get(request.state)
        size = page_size(request.page_size)
        filters = {"state": state}
        after = _key_after(decode_token(request.page_token, filters))
        async with self.engine.connect() as connection:
            rows = await store.list_deliveries(connection, state=state, after=after, limit=size + 1)
        response = pb.ListDeliveriesResponse(deliveries=[delivery_proto(row) for row in rows[:size]])
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = encode_token([last.created_at.isoformat(), str(last.id)], filters)
        return response

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeadLettersResponse:
        """Newest first, from the mesh's dead-letter stream (every consumer group's)."""
        require_role(Role.ADMIN)
        size = page_size(request.page_size)
        token = decode_token(request.page_token, {"stream": "dead"})
        newest = f"({token[0]}" if token else "+"
        try:
            entries = await self.redis.xrevrange(
                self.redis_prefix + DEAD_LETTER_STREAM, max=newest, min="-", count=size + 1
            )
        except RedisError:
            raise unavailable("BUS_UNAVAILABLE", "the bus (Redis) is not reachable; try again") from None
        response = pb.ListDeadLettersResponse()
        for entry_id, fields in entries[:size]:
            response.dead_letters.append(_dead_letter(entry_id, fields))
        if len(entries) > size:
            response.next_page_token = encode_token([_text(entries[size - 1][0])], {"stream": "dead"})
        return response


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _dead_letter(entry_id: bytes | str, fields: dict[Any, Any]) -> pb.DeadLetter:
    def field(name: str) -> str:
        value = fields.get(name.encode(), fields.get(name))
        return _text(value) if value is not None else ""

    identifier = _text(entry_id)
    letter = pb.DeadLetter(
        id=identifier,
        stream=field("stream"),
        event_id=field("event_id"),
        type=field("type"),
        error=field("error"),
        attempts=int(field("attempts") or 0),
    )
    milliseconds = int(identifier.split("-", 1)[0])
    letter.dead_time.FromMilliseconds(milliseconds)
    return letter
