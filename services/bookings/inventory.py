"""The events service as bookings sees it: seat reservations and event facts.

`EventsGateway` calls ReserveSeats / ReleaseSeats / BatchGetEvents with a deadline and bounded
retries (both seat RPCs are idempotent on the reservation id, so a retry never takes seats twice)
and turns events' answers into reservation outcomes. `EventCache` keeps event facts for a few
seconds per process: concurrent misses share one BatchGetEvents, and the bus (EventUpdated,
EventCancelled, EventCompleted, read by every process) refreshes entries as soon as they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

import grpc
from redis import asyncio as aioredis

from seatmesh.bus.v1 import envelope_pb2
from seatmesh.events.v1 import bus_pb2 as events_bus_pb2
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.bookings.rules import Cause, EventFacts, NotBookable, Reserved, SoldOut, Unknown
from services.runtime.bus import stream_name, unpack
from services.runtime.errors import error_metadata, error_reason

log = logging.getLogger(__name__)

# Worth another try: events is restarting, overloaded, or the answer got lost on the way.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)

_STATE_NAMES = {
    events_pb2.Event.SCHEDULED: "SCHEDULED",
    events_pb2.Event.CANCELLED: "CANCELLED",
    events_pb2.Event.COMPLETED: "COMPLETED",
}


class EventsUnavailable(Exception):
    """events did not answer within the deadline."""


def event_facts(event: events_pb2.Event) -> EventFacts:
    return EventFacts(
        id=event.id,
        organizer_id=event.organizer_id,
        title=event.title,
        start_time=event.start_time.ToDatetime(tzinfo=UTC),
        end_time=event.end_time.ToDatetime(tzinfo=UTC),
        time_zone=event.time_zone,
        city=event.city,
        venue=event.venue,
        capacity=event.capacity,
        max_seats_per_booking=event.max_seats_per_booking,
        requires_approval=event.requires_approval,
        state=_STATE_NAMES.get(event.state, "UNKNOWN"),
        update_time=event.update_time.ToDatetime(tzinfo=UTC) if event.HasField("update_time") else None,
    )


@dataclass(frozen=True, slots=True)
class Released:
    seats_released: int
    seats_available: int


T = TypeVar("T")


class EventsGateway:
    def __init__(self, channel: grpc.aio.Channel, *, deadline: float) -> None:
        self.stub = events_pb2_grpc.EventServiceStub(channel)
        self.deadline = deadline

    async def _call(self, attempt: Callable[[float], Awaitable[T]], budget: float | None) -> T:
        """Retry transient failures until the budget is spent; then EventsUnavailable."""
        loop = asyncio.get_running_loop()
        budget = self.deadline if budget is None else min(budget, self.deadline)
        give_up = loop.time() + budget
        # One slow attempt must not eat the whole budget when a retry would reach a healthy replica.
        attempt_limit = max(0.5, budget / 2)
        delay = 0.05
        while True:
            remaining = give_up - loop.time()
            if remaining <= 0.01:
                raise EventsUnavailable("deadline spent")
            try:
                return await attempt(min(remaining, attempt_limit))
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE:
                    raise
                if loop.time() + delay >= give_up:
                    raise EventsUnavailable(error.code().name) from None
                log.debug("events call failed; retrying", extra={"code": error.code().name})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def reserve(
        self, *, event_id: str, seats: int, reservation_id: str, budget: float | None = None
    ) -> Reserved | SoldOut | NotBookable | Unknown:
        request = events_pb2.ReserveSeatsRequest(
            event_id=event_id, seats=seats, reservation_id=reservation_id
        )
        try:
            reply = await self._call(lambda timeout: self.stub.ReserveSeats(request, timeout=timeout), budget)
        except EventsUnavailable as error:
            return Unknown(str(error))
        except grpc.aio.AioRpcError as error:
            return _refusal(error)
        return Reserved(event_facts(reply.event), reply.seats_available)

    async def release(self, reservation_id: str, budget: float | None = None) -> Released:
        """Give a reservation's seats back (or fence an id never reserved). Raises EventsUnavailable."""
        request = events_pb2.ReleaseSeatsRequest(reservation_id=reservation_id)
        try:
            reply = await self._call(lambda timeout: self.stub.ReleaseSeats(request, timeout=timeout), budget)
        except grpc.aio.AioRpcError as error:
            # Not retryable (a bug on either side); the reconciler tries again later, loudly.
            log.error(
                "ReleaseSeats refused", extra={"code": error.code().name, "reservation": reservation_id}
            )
            raise EventsUnavailable(error.code().name) from None
        return Released(reply.seats_released, reply.seats_available)

    async def batch_get(
        self, event_ids: Iterable[str], budget: float | None = None
    ) -> list[events_pb2.Event]:
        """Raises EventsUnavailable; unknown ids are left out."""
        request = events_pb2.BatchGetEventsRequest(event_ids=list(event_ids))
        try:
            reply = await self._call(
                lambda timeout: self.stub.BatchGetEvents(request, timeout=timeout), budget
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                return []
            log.error("BatchGetEvents refused", extra={"code": error.code().name})
            raise EventsUnavailable(error.code().name) from None
        return list(reply.events)


def _refusal(error: grpc.aio.AioRpcError) -> SoldOut | NotBookable | Unknown:
    reason = error_reason(error)
    code = error.code()
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "SOLD_OUT":
        try:
            available = int(error_metadata(error).get("seats_available", "0"))
        except ValueError:
            available = 0
        return SoldOut(max(available, 0))
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "EVENT_STARTED":
        return NotBookable(Cause.EVENT_STARTED)
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "RESERVATION_RELEASED":
        # The id was released before (the booking was cancelled meanwhile): it takes nothing.
        return NotBookable(Cause.EVENT_NOT_BOOKABLE)
    if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
        return NotBookable(Cause.EVENT_NOT_BOOKABLE)
    # INVALID_ARGUMENT, PERMISSION_DENIED...: a bug or a misconfiguration, not an answer about seats.
    # Keep the booking PENDING; the reconciler retries and the log says why.
    log.error("ReserveSeats refused unexpectedly", extra={"code": code.name, "reason": reason})
    return Unknown(f"{code.name} {reason}")


class EventCache:
    """Event facts per process, for at most `ttl` seconds, refreshed from the bus.

    Correctness never rests on it: events re-checks bookability and seats in ReserveSeats, and the
    booking takes the event's current title, times and approval rule from ReserveSeats' answer.
    What the cache decides alone is the organizer (never changes) and the per-booking seat limit
    (as of a few seconds ago at worst).
    """

    BATCH_LIMIT = 1000

    def __init__(self, gateway: EventsGateway, *, ttl: float) -> None:
        self.gateway = gateway
        self.ttl = ttl
        self._entries: dict[str, tuple[EventFacts | None, float]] = {}
        self._waiting: dict[str, asyncio.Future[EventFacts | None]] = {}
        self._flush_scheduled = False

    def put(self, facts: EventFacts) -> None:
        if self.ttl > 0:
            self._entries[facts.id] = (facts, time.monotonic() + self.ttl)

    def forget(self, event_id: str) -> None:
        self._entries.pop(event_id, None)

    def clear(self) -> None:
        self._entries.clear()

    async def get(self, event_id: str) -> EventFacts | None:
        """The event, or None when events does not know it. Raises EventsUnavailable."""
        entry = self._entries.get(event_id)
        if entry is not None:
            if entry[1] > time.monotonic():
                return entry[0]
            del self._entries[event_id]
        waiting = self._waiting.get(event_id)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[event_id] = waiting
            if not self._flush_scheduled:
                # Misses of this loop turn (a flash sale, a page of bookings) share one call.
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._start_flush)
        return await asyncio.shield(waiting)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        batch = dict(list(self._waiting.items())[: self.BATCH_LIMIT])
        for event_id in batch:
            del self._waiting[event_id]
        if self._waiting:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        task = asyncio.ensure_future(self._fetch(batch))
        task.add_done_callback(_log_failure)

    async def _fetch(self, batch: dict[str, asyncio.Future[EventFacts | None]]) -> None:
        try:
            events = await self.gateway.batch_get(batch)
        except BaseException as error:
            for future in batch.values():
                if not future.done():
                    future.set_exception(EventsUnavailable(str(error)))
                    # Retrieved or not, the waiter already has it; don't warn about it at exit.
                    future.exception()
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        found = {event.id: event_facts(event) for event in events}
        expires = time.monotonic() + self.ttl
        for event_id, future in batch.items():
            facts = found.get(event_id)
            if self.ttl > 0 and facts is not None:
                self._entries[event_id] = (facts, expires)
            if not future.done():
                future.set_result(facts)

    async def follow(self, redis: aioredis.Redis, prefix: str) -> None:
        """Refresh entries from every change events publishes (each process reads the whole stream)."""
        stream = stream_name(prefix, "events")
        handled = {
            events_bus_pb2.EventUpdated.DESCRIPTOR.full_name,
            events_bus_pb2.EventCancelled.DESCRIPTOR.full_name,
            events_bus_pb2.EventCompleted.DESCRIPTOR.full_name,
        }
        last_id = ""
        while True:
            try:
                if not last_id:
                    # Start after the newest message; "$" on every call would skip what arrives between.
                    newest = await redis.xrevrange(stream, count=1)
                    last_id = _text(newest[0][0]) if newest else "0-0"
                # Shorter than the client's socket timeout, so a quiet stream is not an error.
                replies = await redis.xread({stream: last_id}, count=500, block=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Changes published while we could not read are unknown: start clean.
                log.warning("cannot follow event changes; cache cleared", exc_info=True)
                self.clear()
                last_id = ""
                await asyncio.sleep(1.0)
                continue
            for _, entries in replies or []:
                for message_id, fields in entries:
                    last_id = _text(message_id)
                    with contextlib.suppress(Exception):
                        envelope = envelope_pb2.Envelope.FromString(fields.get(b"e") or b"")
                        if envelope.type in handled:
                            payload = unpack(envelope)
                            event = getattr(payload, "event", None)
                            if event is not None and event.id:
                                self.forget(event.id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("event lookup failed", exc_info=task.exception())
