"""gRPC handlers of EventService: proto <-> domain (`convert`), who may do what, then the domain's
rules (`domain`), the store and the cache; one method per RPC.

Reads go through the cache (`cache.CachedReads`); every write bumps the cache (and announces seat
changes) only once its transaction committed (see cache.py for why the order matters).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf import empty_pb2

from seatmesh.events.v1 import events_pb2
from services.events import convert, domain
from services.events.availability import AvailabilityHub, StreamAdmission, availability_message
from services.events.cache import CachedReads, EventCache, page_key
from services.events.clients.users import UsersClient
from services.events.domain import EventRecord, ReserveStatus, ReviewRecord, TagCount
from services.events.store import EventStore, EventTransaction
from services.runtime.app import method_access
from services.runtime.auth import (
    Principal,
    Role,
    current_principal,
    require_principal,
    require_role,
    require_verified,
)
from services.runtime.edge import Edge
from services.runtime.errors import bad_field, parse_uuid, permission_denied
from services.runtime.idempotency import fingerprint, replay, request_id_or_none
from services.runtime.interceptors import request_metadata
from services.runtime.pagination import PageTokens, page_size

SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventService"]
ACCESS = method_access(
    SERVICE,
    public={"GetEvent", "ListEvents", "ListTags", "ListReviews", "WatchAvailability"},
    internal={"ReserveSeats", "ReleaseSeats", "BatchGetEvents"},
)

# What ListTags' and ListReviews' page tokens carry: (event count, name) and (create time, id).
TAG_KEY = (int, str)
REVIEW_KEY = (datetime, uuid.UUID)


def _now() -> datetime:
    return datetime.now(UTC)


async def _lock_owned_event(
    tx: EventTransaction, principal: Principal, event_id: uuid.UUID, *, for_delete: bool = False
) -> EventRecord:
    """The event a write changes, locked for `tx`, if it exists and the caller may change it."""
    current = await tx.lock_event(event_id, for_delete=for_delete)
    if current is None:
        raise domain.event_not_found(event_id)
    if not (principal.is_admin or principal.subject == current.organizer_id):
        raise permission_denied(
            "only the event's organizer or an admin may change it", reason="NOT_EVENT_OWNER"
        )
    return current


class EventServiceServicer:
    """Every RPC of EventService (registered with `add_EventServiceServicer_to_server`). It does not
    subclass the generated servicer: that class is untyped, and its only gift, UNIMPLEMENTED for
    missing methods, is not wanted here (a missing RPC fails at registration instead)."""

    def __init__(
        self,
        *,
        store: EventStore,
        reads: CachedReads,
        cache: EventCache,
        hub: AvailabilityHub,
        admission: StreamAdmission,
        edge: Edge,
        users: UsersClient,
        pages: PageTokens,
        redis_prefix: str,
        require_email_verification: bool,
    ) -> None:
        self.store = store
        self.reads = reads
        self.cache = cache
        self.hub = hub
        self.admission = admission
        self.edge = edge
        self.users = users
        self.pages = pages
        # Where seat changes are announced (availability channels).
        self.redis_prefix = redis_prefix
        self.require_email_verification = require_email_verification

    def _refresh_after_commit(self, tx: EventTransaction, event: EventRecord) -> None:
        """Once `tx` committed, `event` as it is now: its cached copy and every cached list go
        stale, and its watchers hear of its seats and state."""
        tx.after_commit(
            self.cache.invalidate,
            [str(event.id)],
            lists=True,
            messages=[availability_message(self.redis_prefix, event)],
        )

    # -- reading events --------------------------------------------------------------------------

    async def GetEvent(
        self, request: events_pb2.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        event_id = str(parse_uuid(request.event_id, "event_id"))
        found = await self.reads.events([event_id])
        if event_id not in found:
            raise domain.event_not_found(event_id)
        return found[event_id]

    async def BatchGetEvents(
        self, request: events_pb2.BatchGetEventsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.BatchGetEventsResponse:
        wanted = domain.validate_batch_ids(request.event_ids)
        found = await self.reads.events(wanted)
        return events_pb2.BatchGetEventsResponse(events=[found[i] for i in wanted if i in found])

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListEventsResponse:
        query = convert.list_query_from_proto(request)
        size = page_size(request.page_size)
        filters = query.page_filters()
        after = self.pages.decode(request.page_token, filters, domain.sort_key_kinds(query.order))

        async def read() -> tuple[Sequence[EventRecord], str]:
            records = await self.store.list_events(query, after, size + 1)
            return self.pages.page(records, size, filters, lambda event: domain.sort_key(event, query.order))

        events, next_token = await self.reads.event_page(page_key(filters, after, size), read)
        return events_pb2.ListEventsResponse(events=events, next_page_token=next_token)

    async def ListTags(
        self, request: events_pb2.ListTagsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListTagsResponse:
        size = page_size(request.page_size, default=100, maximum=1000)
        filters = {"list": "tags"}
        after = self.pages.decode(request.page_token, filters, TAG_KEY)

        async def read() -> events_pb2.ListTagsResponse:
            tags = await self.store.list_tags(after, size + 1)
            page, next_token = self.pages.page(tags, size, filters, _tag_key)
            return events_pb2.ListTagsResponse(
                tags=[convert.tag_to_proto(tag) for tag in page], next_page_token=next_token
            )

        return await self.reads.tags_page(page_key(after, size), read)

    # -- writes by organizers --------------------------------------------------------------------

    async def CreateEvent(
        self, request: events_pb2.CreateEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_role(Role.ORGANIZER, Role.ADMIN)
        require_verified(principal, self.require_email_verification)
        request_id = request_id_or_none(request.request_id)
        body_fingerprint = fingerprint(convert.creation_body(request.event))
        if request_id is not None:
            replayed = await self._replay_creation(principal, request_id, body_fingerprint)
            if replayed is not None:
                return replayed
        if not request.HasField("event"):
            raise bad_field("event", "is required")
        fields = domain.validate_fields(
            domain.normalize_fields(convert.fields_from_proto(request.event)),
            now=_now(),
            start_must_be_future=True,
        )
        async with self.store.transaction() as tx:
            created = await tx.insert_event(
                principal.subject, fields, request_id, body_fingerprint if request_id is not None else None
            )
            if created is not None:
                await tx.publish(convert.event_created(created))
                tx.after_commit(self.cache.invalidate, [], lists=True)
        if created is not None:
            return convert.event_to_proto(created)
        # Only with a request id: the same one committed first, concurrently.
        assert request_id is not None
        replayed = await self._replay_creation(principal, request_id, body_fingerprint)
        if replayed is None:
            raise RuntimeError("request id conflict without an event")
        return replayed

    async def _replay_creation(
        self, principal: Principal, request_id: str, body_fingerprint: str
    ) -> events_pb2.Event | None:
        first = await replay(
            lambda: self.store.find_by_request(principal.subject, request_id), body_fingerprint
        )
        return convert.event_to_proto(first) if first is not None else None

    async def UpdateEvent(
        self, request: events_pb2.UpdateEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_principal()
        if not request.HasField("event"):
            raise bad_field("event", "is required")
        event_id = parse_uuid(request.event.id, "event.id")
        paths = domain.resolve_update_mask(
            list(request.update_mask.paths), convert.present_fields(request.event)
        )
        patch = domain.normalize_fields(convert.fields_from_proto(request.event), fill_defaults=False)
        async with self.store.transaction() as tx:
            current = await _lock_owned_event(tx, principal, event_id)
            domain.check_editable(current, request.event.etag)
            before = current.fields()
            after = domain.merge_update(before, patch, paths)
            changed = domain.changed_fields(before, after)
            if not changed:
                return convert.event_to_proto(current)
            domain.validate_fields(after, now=_now(), start_must_be_future="start_time" in changed)
            domain.check_capacity(after, current)
            if "price" in changed:
                # The event's row lock keeps new reservations out until this commits.
                has_reservations = await tx.has_reservations(event_id)
                domain.check_price_change(before, after, has_reservations=has_reservations)
            updated = await tx.write_fields(event_id, after)
            notable = domain.notable_changes(changed)
            if notable:
                await tx.publish(convert.event_updated(updated, current, notable))
            self._refresh_after_commit(tx, updated)
        return convert.event_to_proto(updated)

    async def DeleteEvent(
        self, request: events_pb2.DeleteEventRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        principal = require_principal()
        event_id = parse_uuid(request.event_id, "event_id")
        async with self.store.transaction() as tx:
            current = await _lock_owned_event(tx, principal, event_id, for_delete=True)
            domain.check_deletable(
                current,
                etag=request.etag,
                now=await tx.now(),
                has_reservations=await tx.has_reservations(event_id),
            )
            if not await tx.delete(event_id):
                raise domain.event_has_reservations(event_id)
            await tx.publish(convert.event_deleted(current, deleted_by=principal.subject))
            tx.after_commit(self.cache.invalidate, [str(event_id)], lists=True)
        return empty_pb2.Empty()

    async def CancelEvent(
        self, request: events_pb2.CancelEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_principal()
        event_id = parse_uuid(request.event_id, "event_id")
        reason = domain.validate_cancel_reason(request.reason)
        async with self.store.transaction() as tx:
            current = await _lock_owned_event(tx, principal, event_id)
            if not domain.must_cancel(current):
                return convert.event_to_proto(current)
            cancelled = await tx.cancel(event_id, reason)
            await tx.publish(convert.event_cancelled(cancelled, reason, cancelled_by=principal.subject))
            self._refresh_after_commit(tx, cancelled)
        return convert.event_to_proto(cancelled)

    # -- reviews and availability ----------------------------------------------------------------

    async def ListReviews(
        self, request: events_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListReviewsResponse:
        event_id = parse_uuid(request.event_id, "event_id")
        size = page_size(request.page_size)
        filters = {"list": "reviews", "event": str(event_id)}
        after = self.pages.decode(request.page_token, filters, REVIEW_KEY)
        found = await self.store.list_reviews(event_id, after, size + 1)
        if not found and after is None and not await self.store.event_exists(event_id):
            raise domain.event_not_found(event_id)
        page, next_token = self.pages.page(found, size, filters, _review_key)
        names = await self.users.display_names({review.author_id for review in page})
        viewer = current_principal()
        return events_pb2.ListReviewsResponse(
            reviews=[
                convert.review_to_proto(
                    review,
                    author_name=names.get(review.author_id, ""),
                    reveal_attendance=domain.reveals_attendance(review, viewer),
                )
                for review in page
            ],
            next_page_token=next_token,
        )

    async def WatchAvailability(
        self, request: events_pb2.WatchAvailabilityRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.Availability]:
        event_id = parse_uuid(request.event_id, "event_id")
        client = self.edge.client_address(request_metadata(context), context.peer())
        with self.admission.admit(client):
            async with contextlib.aclosing(self._availability(event_id)) as updates:
                async for availability in updates:
                    yield availability

    async def _availability(self, event_id: uuid.UUID) -> AsyncGenerator[events_pb2.Availability, None]:
        """The event's availability now, then each newer one, until the caller stops reading."""
        # Subscribe first, then read: a change committed in between arrives as a message.
        async with self.hub.watch(str(event_id)) as watcher:
            current = await self._stored_event(event_id)
            sent_version = current.seats_version
            yield convert.availability_to_proto(current)
            while True:
                update = await watcher.next(self.hub.poll_interval())
                if update is None:
                    record = await self._stored_event(event_id)
                    update = (record.seats_version, convert.availability_to_proto(record))
                version, availability = update
                if version > sent_version:
                    sent_version = version
                    yield availability

    async def _stored_event(self, event_id: uuid.UUID) -> EventRecord:
        """The event as stored now (not the cached copy), or NOT_FOUND."""
        record = await self.store.get(event_id)
        if record is None:
            raise domain.event_not_found(event_id)
        return record

    # -- the inventory (internal) ----------------------------------------------------------------

    async def ReserveSeats(
        self, request: events_pb2.ReserveSeatsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ReserveSeatsResponse:
        wanted = domain.validate_seat_request(request.event_id, request.reservation_id, request.seats)
        outcome = await self.store.reserve(wanted.event_id, wanted.seats, wanted.reservation_id)
        event = domain.reserved_event(outcome, wanted, now=_now())
        if outcome.status is ReserveStatus.RESERVED:
            await self.cache.invalidate(
                [str(event.id)],
                # Sold out just now: `has_available_seats` lists lose it.
                lists=event.seats_taken == event.capacity,
                messages=[availability_message(self.redis_prefix, event)],
            )
        return events_pb2.ReserveSeatsResponse(
            reservation_id=str(wanted.reservation_id),
            event_id=str(event.id),
            seats=wanted.seats,
            seats_available=event.seats_available,
            event=convert.event_to_proto(event),
        )

    async def ReleaseSeats(
        self, request: events_pb2.ReleaseSeatsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ReleaseSeatsResponse:
        reservation_id = parse_uuid(request.reservation_id, "reservation_id")
        outcome = await self.store.release(reservation_id)
        event = outcome.event
        if outcome.seats_released and event is not None:
            await self.cache.invalidate(
                [str(event.id)],
                # Free seats again after being sold out: `has_available_seats` lists gain it.
                lists=event.seats_taken + outcome.seats_released == event.capacity,
                messages=[availability_message(self.redis_prefix, event)],
            )
        return events_pb2.ReleaseSeatsResponse(
            reservation_id=str(reservation_id),
            seats_released=outcome.seats_released,
            event_id=str(event.id) if event is not None else "",
            seats_available=event.seats_available if event is not None else 0,
        )


def _tag_key(tag: TagCount) -> tuple[int, str]:
    return tag.event_count, tag.name


def _review_key(review: ReviewRecord) -> tuple[datetime, uuid.UUID]:
    return review.create_time, review.id
