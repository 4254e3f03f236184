"""gRPC handlers of EventService: proto <-> domain, and who may do what.

Rules live in `rules.py`, SQL in `store.py`, the cache in `cache.py`. Every write invalidates the
cache after its transaction committed (see cache.py for why the order matters).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import grpc
from google.protobuf import empty_pb2
from sqlalchemy.exc import IntegrityError

from seatmesh.events.v1 import bus_pb2, events_pb2, events_pb2_grpc
from services.events import rules
from services.events.availability import AvailabilityHub, availability_message
from services.events.cache import Cached, EventCache, decode_page, encode_page
from services.events.convert import (
    availability_to_proto,
    creation_fingerprint_source,
    event_to_proto,
    fields_from_proto,
    moment,
    present_fields,
    review_to_proto,
    state_from_proto,
    timestamp,
)
from services.events.rules import EventRecord, Refusal, State
from services.events.settings import EventsSettings
from services.events.store import EventStore, ReserveStatus
from services.runtime.app import method_access
from services.runtime.auth import Principal, Role, require_principal, require_role, require_verified
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    aborted,
    bad_field,
    failed_precondition,
    invalid_argument,
    not_found,
    parse_uuid,
    permission_denied,
)
from services.runtime.pagination import decode_token, encode_token, page_size

SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventService"]
ACCESS = method_access(
    SERVICE,
    public={"GetEvent", "ListEvents", "ListTags", "ListReviews", "WatchAvailability"},
    internal={"ReserveSeats", "ReleaseSeats", "BatchGetEvents"},
)

EVENT = "seatmesh.events.v1.Event"


def _now() -> datetime:
    return datetime.now(UTC)


def _event_not_found(event_id: uuid.UUID | str) -> ServiceError:
    return not_found(EVENT, str(event_id), f"event {event_id} not found")


def _require_owner(principal: Principal, event: EventRecord) -> None:
    if principal.is_admin or principal.subject == event.organizer_id:
        return
    raise permission_denied("only the event's organizer or an admin may change it", reason="NOT_EVENT_OWNER")


def _cache_key(*parts: object) -> str:
    encoded = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:40]


class EventServiceServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(
        self, store: EventStore, cache: EventCache, hub: AvailabilityHub, settings: EventsSettings
    ) -> None:
        self.store = store
        self.cache = cache
        self.hub = hub
        self.settings = settings
        self.prefix = settings.redis_prefix

    # -- reading events through the cache ----------------------------------------------------------

    async def _load_events(self, event_ids: Sequence[str]) -> dict[str, events_pb2.Event]:
        """Events by id (unknown ids left out): from the cache, the rest from PostgreSQL."""
        return await self._with_cached(event_ids, await self.cache.read_events(event_ids))

    async def _with_cached(
        self, event_ids: Sequence[str], cached: Mapping[str, Cached] | None
    ) -> dict[str, events_pb2.Event]:
        """Bodies found in `cached`, the others read and put back under the generation read before."""
        found: dict[str, events_pb2.Event] = {}
        missing: list[str] = []
        for event_id in event_ids:
            entry = cached.get(event_id) if cached is not None else None
            if entry is not None and entry.value is not None:
                found[event_id] = events_pb2.Event.FromString(entry.value)
            else:
                missing.append(event_id)
        if not missing:
            return found
        if len(missing) == 1:
            record = await self.store.get(uuid.UUID(missing[0]))
            records = [record] if record is not None else []
        else:
            records = await self.store.get_many([uuid.UUID(event_id) for event_id in missing])
        fills = []
        for record in records:
            message = event_to_proto(record)
            found[str(record.id)] = message
            if cached is not None:
                fills.append((str(record.id), cached[str(record.id)].generation, message.SerializeToString()))
        await self.cache.store_events(fills)
        return found

    async def GetEvent(
        self, request: events_pb2.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        event_id = str(parse_uuid(request.event_id, "event_id"))
        found = await self._load_events([event_id])
        if event_id not in found:
            raise _event_not_found(event_id)
        return found[event_id]

    async def BatchGetEvents(
        self, request: events_pb2.BatchGetEventsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.BatchGetEventsResponse:
        if len(request.event_ids) > rules.MAX_BATCH_GET:
            raise bad_field("event_ids", f"at most {rules.MAX_BATCH_GET} ids")
        violations = Violations()
        wanted: list[str] = []
        for index, raw in enumerate(request.event_ids):
            try:
                wanted.append(str(uuid.UUID(raw)))
            except ValueError:
                violations.add(f"event_ids[{index}]", "must be a UUID")
        violations.raise_if_any()
        unique = list(dict.fromkeys(wanted))
        found = await self._load_events(unique)
        return events_pb2.BatchGetEventsResponse(events=[found[i] for i in unique if i in found])

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListEventsResponse:
        if request.state not in events_pb2.Event.State.values():
            raise bad_field("state", "is not a known event state")
        state = state_from_proto(request.state)
        query = rules.build_list_query(
            order_by=request.order_by,
            city=request.city,
            tags=list(request.tags),
            state=state,
            start_time_after=moment(request.start_time_after, "start_time_after")
            if request.HasField("start_time_after")
            else None,
            start_time_before=moment(request.start_time_before, "start_time_before")
            if request.HasField("start_time_before")
            else None,
            has_available_seats=request.has_available_seats,
            min_rating=request.min_rating,
            organizer_id=request.organizer_id,
            query=request.query,
        )
        size = page_size(request.page_size)
        filters = query.fingerprint_source()
        after_key = decode_token(request.page_token, filters)
        after = rules.parse_sort_key(after_key, query.order) if after_key is not None else None
        key = _cache_key(filters, after_key, size)

        listed = await self.cache.read_list_page(key)
        if listed is not None and listed.page is not None:
            ids, next_token = decode_page(listed.page)
            bodies = await self._with_cached(ids, listed.events)
            return events_pb2.ListEventsResponse(
                events=[bodies[event_id] for event_id in ids if event_id in bodies],
                next_page_token=next_token,
            )

        records = await self.store.list_events(query, after, size + 1)
        next_token = ""
        if len(records) > size:
            records = records[:size]
            next_token = encode_token(rules.sort_key(records[-1], query.order), filters)
        if listed is not None:
            await self.cache.store_list_page(
                listed.list_generation, key, encode_page([str(record.id) for record in records], next_token)
            )
        return events_pb2.ListEventsResponse(
            events=[event_to_proto(record) for record in records], next_page_token=next_token
        )

    async def ListTags(
        self, request: events_pb2.ListTagsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListTagsResponse:
        size = page_size(request.page_size, default=100, maximum=1000)
        filters = {"tags": "by count"}
        after_key = decode_token(request.page_token, filters)
        after = None
        if after_key is not None:
            try:
                after = (int(after_key[0]), str(after_key[1]))
            except (ValueError, TypeError, IndexError):
                raise bad_field("page_token", "is not a page token this API issued") from None
        key = _cache_key(after_key, size)
        cached = await self.cache.read_tags(key)
        if cached is not None and cached.page is not None:
            return events_pb2.ListTagsResponse.FromString(cached.page)
        rows = await self.store.list_tags(after, size + 1)
        reply = events_pb2.ListTagsResponse(
            tags=[events_pb2.Tag(name=name, event_count=count) for name, count in rows[:size]]
        )
        if len(rows) > size:
            last_name, last_count = rows[size - 1]
            reply.next_page_token = encode_token([last_count, last_name], filters)
        if cached is not None:
            await self.cache.store_tags(cached.list_generation, key, reply.SerializeToString())
        return reply

    # -- writes by organizers --------------------------------------------------------------------

    async def CreateEvent(
        self, request: events_pb2.CreateEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_role(Role.ORGANIZER, Role.ADMIN)
        require_verified(principal, self.settings.require_email_verification)
        request_id = request.request_id
        fingerprint = None
        if request_id:
            rules.check_request_id(request_id)
            fingerprint = hashlib.sha256(creation_fingerprint_source(request.event)).hexdigest()
            replay = await self._replay_creation(principal, request_id, fingerprint)
            if replay is not None:
                return replay
        if not request.HasField("event"):
            raise bad_field("event", "is required")
        fields = rules.normalize_fields(fields_from_proto(request.event))
        rules.validate_fields(fields, now=_now(), start_must_be_future=True).raise_if_any()
        async with self.store.transaction() as tx:
            created = await tx.insert_event(principal.subject, fields, request_id or None, fingerprint)
            if created is not None:
                await tx.publish(bus_pb2.EventCreated(event=event_to_proto(created)))
        if created is None:
            # The same request id committed first, concurrently.
            assert fingerprint is not None
            replay = await self._replay_creation(principal, request_id, fingerprint)
            if replay is None:
                raise RuntimeError("request id conflict without an event")
            return replay
        await self.cache.invalidate([], lists=True)
        return event_to_proto(created)

    async def _replay_creation(
        self, principal: Principal, request_id: str, fingerprint: str
    ) -> events_pb2.Event | None:
        existing = await self.store.find_by_request(principal.subject, request_id)
        if existing is None:
            return None
        event, first_fingerprint = existing
        if first_fingerprint != fingerprint:
            raise invalid_argument(
                [
                    FieldViolation(
                        "request_id", "was used before with a different event; use a new request id"
                    )
                ],
                reason="REQUEST_ID_REUSED",
            )
        return event_to_proto(event)

    async def UpdateEvent(
        self, request: events_pb2.UpdateEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_principal()
        if not request.HasField("event"):
            raise bad_field("event", "is required")
        event_id = parse_uuid(request.event.id, "event.id")
        paths = rules.resolve_update_mask(list(request.update_mask.paths), present_fields(request.event))
        patch = rules.normalize_fields(fields_from_proto(request.event), fill_defaults=False)
        async with self.store.transaction() as tx:
            current = await tx.lock_event(event_id)
            if current is None:
                raise _event_not_found(event_id)
            _require_owner(principal, current)
            if request.event.etag and request.event.etag != current.etag:
                raise aborted(
                    "ETAG_MISMATCH",
                    "the event changed since you read it; read it again and reapply your change",
                    current_etag=current.etag,
                )
            if current.state is not State.SCHEDULED:
                raise failed_precondition(
                    "EVENT_NOT_EDITABLE",
                    f"a {current.state.value.lower()} event can no longer be edited",
                    resource_name=str(event_id),
                    state=current.state.value,
                )
            before = current.fields()
            after = rules.merge_update(before, patch, paths)
            changed = rules.changed_fields(before, after)
            if not changed:
                return event_to_proto(current)
            rules.validate_fields(
                after, now=_now(), start_must_be_future="start_time" in changed
            ).raise_if_any()
            if after.capacity < current.seats_taken:
                raise failed_precondition(
                    "CAPACITY_BELOW_SEATS_TAKEN",
                    f"capacity cannot go below the {current.seats_taken} seats already taken",
                    resource_name=str(event_id),
                    seats_taken=current.seats_taken,
                )
            updated = await tx.write_fields(event_id, after)
            notable = rules.notable_changes(changed)
            if notable:
                await tx.publish(
                    bus_pb2.EventUpdated(
                        event=event_to_proto(updated),
                        changed_fields=notable,
                        previous_start_time=timestamp(current.start_time),
                        previous_end_time=timestamp(current.end_time),
                        previous_venue=current.venue,
                        previous_city=current.city,
                    )
                )
        await self.cache.invalidate(
            [str(event_id)], lists=True, messages=[availability_message(self.prefix, updated)]
        )
        return event_to_proto(updated)

    async def DeleteEvent(
        self, request: events_pb2.DeleteEventRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        principal = require_principal()
        event_id = parse_uuid(request.event_id, "event_id")
        cancel_instead = f"cancel it instead (POST /v1/events/{event_id}:cancel)"
        try:
            async with self.store.transaction() as tx:
                current = await tx.lock_event(event_id, for_delete=True)
                if current is None:
                    raise _event_not_found(event_id)
                _require_owner(principal, current)
                if request.etag and request.etag != current.etag:
                    raise aborted(
                        "ETAG_MISMATCH", "the event changed since you read it", current_etag=current.etag
                    )
                if await tx.now() > rules.deletable_until(current.create_time):
                    raise failed_precondition(
                        "DELETE_WINDOW_PASSED",
                        f"an event can only be deleted within an hour of creating it; {cancel_instead}",
                        resource_name=str(event_id),
                    )
                if await tx.has_reservations(event_id):
                    raise failed_precondition(
                        "EVENT_HAS_RESERVATIONS",
                        f"the event has (or had) bookings; {cancel_instead}",
                        resource_name=str(event_id),
                    )
                await tx.delete(event_id)
        except IntegrityError:
            # A reservation's foreign key: the database has the last word.
            raise failed_precondition(
                "EVENT_HAS_RESERVATIONS",
                f"the event has (or had) bookings; {cancel_instead}",
                resource_name=str(event_id),
            ) from None
        await self.cache.invalidate([str(event_id)], lists=True)
        return empty_pb2.Empty()

    async def CancelEvent(
        self, request: events_pb2.CancelEventRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.Event:
        principal = require_principal()
        event_id = parse_uuid(request.event_id, "event_id")
        reason = request.reason.strip()
        if len(reason) > rules.MAX_CANCEL_REASON:
            raise bad_field("reason", f"must be at most {rules.MAX_CANCEL_REASON} characters")
        async with self.store.transaction() as tx:
            current = await tx.lock_event(event_id)
            if current is None:
                raise _event_not_found(event_id)
            _require_owner(principal, current)
            if current.state is State.CANCELLED:
                return event_to_proto(current)  # cancelling twice is not an error
            if current.state is State.COMPLETED:
                raise failed_precondition(
                    "EVENT_NOT_CANCELLABLE",
                    "the event is over and cannot be cancelled",
                    resource_name=str(event_id),
                )
            cancelled = await tx.cancel(event_id, reason)
            await tx.publish(
                bus_pb2.EventCancelled(
                    event=event_to_proto(cancelled), reason=reason, cancelled_by=principal.subject
                )
            )
        await self.cache.invalidate(
            [str(event_id)], lists=True, messages=[availability_message(self.prefix, cancelled)]
        )
        return event_to_proto(cancelled)

    # -- reviews and availability ----------------------------------------------------------------

    async def ListReviews(
        self, request: events_pb2.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ListReviewsResponse:
        event_id = parse_uuid(request.event_id, "event_id")
        size = page_size(request.page_size)
        filters = {"event": str(event_id)}
        after_key = decode_token(request.page_token, filters)
        after = None
        if after_key is not None:
            try:
                created = datetime.fromisoformat(after_key[0])
                after = (created, uuid.UUID(after_key[1]))
            except (ValueError, TypeError, IndexError):
                raise bad_field("page_token", "is not a page token this API issued") from None
        found = await self.store.list_reviews(event_id, after, size + 1)
        if not found and after is None and not await self.store.event_exists(event_id):
            raise _event_not_found(event_id)
        reply = events_pb2.ListReviewsResponse(reviews=[review_to_proto(review) for review in found[:size]])
        if len(found) > size:
            last = found[size - 1]
            reply.next_page_token = encode_token([last.create_time.isoformat(), str(last.id)], filters)
        return reply

    async def WatchAvailability(
        self, request: events_pb2.WatchAvailabilityRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.Availability]:
        event_id = parse_uuid(request.event_id, "event_id")
        # Subscribe first, then read: a change committed in between arrives as a message.
        async with self.hub.watch(str(event_id)) as watcher:
            current = await self.store.get(event_id)
            if current is None:
                raise _event_not_found(event_id)
            sent_version = current.seats_version
            yield availability_to_proto(current)
            while True:
                update = await watcher.next(self.hub.poll_interval())
                if update is None:
                    record = await self.store.get(event_id)
                    if record is None:
                        raise _event_not_found(event_id)
                    update = (record.seats_version, availability_to_proto(record))
                version, availability = update
                if version > sent_version:
                    sent_version = version
                    yield availability

    # -- the inventory (internal) ----------------------------------------------------------------

    async def ReserveSeats(
        self, request: events_pb2.ReserveSeatsRequest, context: grpc.aio.ServicerContext
    ) -> events_pb2.ReserveSeatsResponse:
        violations = Violations()
        event_id = violations.uuid(request.event_id, "event_id")
        reservation_id = violations.uuid(request.reservation_id, "reservation_id")
        violations.check(
            1 <= request.seats <= rules.MAX_CAPACITY, "seats", f"must be between 1 and {rules.MAX_CAPACITY:,}"
        )
        violations.raise_if_any()
        assert event_id is not None
        assert reservation_id is not None
        outcome = await self.store.reserve(event_id, request.seats, reservation_id)
        event = outcome.event
        if outcome.status is ReserveStatus.RESERVED:
            assert event is not None
            await self.cache.invalidate(
                [str(event_id)],
                # Sold out just now: `has_available_seats` lists lose it.
                lists=event.seats_taken == event.capacity,
                messages=[availability_message(self.prefix, event)],
            )
        elif outcome.status is ReserveStatus.RELEASED:
            raise failed_precondition(
                "RESERVATION_RELEASED",
                "this reservation id was released; a released reservation never takes seats again",
                resource_name=str(reservation_id),
            )
        elif outcome.status is ReserveStatus.ID_REUSED:
            raise invalid_argument(
                [
                    FieldViolation(
                        "reservation_id", "is already used by a reservation of another event or size"
                    )
                ],
                reason="RESERVATION_ID_REUSED",
            )
        elif outcome.status is ReserveStatus.REFUSED:
            raise _refusal(event, request.seats, outcome.now or _now(), event_id)
        assert event is not None
        return events_pb2.ReserveSeatsResponse(
            reservation_id=str(reservation_id),
            event_id=str(event.id),
            seats=request.seats,
            seats_available=event.seats_available,
            event=event_to_proto(event),
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
                messages=[availability_message(self.prefix, event)],
            )
        return events_pb2.ReleaseSeatsResponse(
            reservation_id=str(reservation_id),
            seats_released=outcome.seats_released,
            event_id=str(event.id) if event is not None else "",
            seats_available=event.seats_available if event is not None else 0,
        )


def _refusal(event: EventRecord | None, seats: int, now: datetime, event_id: uuid.UUID) -> ServiceError:
    refusal = rules.why_not_reservable(event, seats, now)
    if refusal is Refusal.NOT_FOUND or event is None:
        return _event_not_found(event_id)
    if refusal is Refusal.EVENT_NOT_BOOKABLE:
        return failed_precondition(
            "EVENT_NOT_BOOKABLE",
            f"the event is {event.state.value.lower()}",
            resource_name=str(event_id),
            state=event.state.value,
        )
    if refusal is Refusal.EVENT_STARTED:
        return failed_precondition(
            "EVENT_STARTED", "the event has already started", resource_name=str(event_id)
        )
    return failed_precondition(
        "SOLD_OUT",
        f"only {event.seats_available} seats left" if event.seats_available else "sold out",
        resource_name=str(event_id),
        seats_available=event.seats_available,
        seats_requested=seats,
    )
