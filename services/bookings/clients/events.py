"""The events service as bookings calls it: seat reservations, releases and event facts.

Every call has a deadline and bounded retries (runtime.clients.call_with_retries): both seat RPCs
are idempotent on the reservation id, so a retry never takes seats twice. Events' answers come back
as domain outcomes (`Reserved`, `SoldOut`, `NotBookable`, `Unknown`, `Released`, `EventFacts`);
when events does not answer in time, calls raise PeerUnavailable (ReserveSeats answers `Unknown`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import grpc

from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.bookings.convert import event_facts_from_proto
from services.bookings.domain import Cause, EventFacts, NotBookable, Released, Reserved, SoldOut, Unknown
from services.runtime.clients import PeerUnavailable, call_with_retries
from services.runtime.errors import error_metadata, error_reason

log = logging.getLogger(__name__)


class EventsClient:
    def __init__(self, channel: grpc.aio.Channel, *, deadline: float) -> None:
        self.stub = events_pb2_grpc.EventServiceStub(channel)
        self.deadline = deadline

    def _budget(self, budget: float | None) -> float:
        return self.deadline if budget is None else min(budget, self.deadline)

    async def reserve(
        self, *, event_id: str, seats: int, reservation_id: str, budget: float | None = None
    ) -> Reserved | SoldOut | NotBookable | Unknown:
        request = events_pb2.ReserveSeatsRequest(
            event_id=event_id, seats=seats, reservation_id=reservation_id
        )
        try:
            reply = await call_with_retries(
                lambda timeout: self.stub.ReserveSeats(request, timeout=timeout), budget=self._budget(budget)
            )
        except PeerUnavailable as error:
            return Unknown(str(error))
        except grpc.aio.AioRpcError as error:
            return _refusal(error)
        return Reserved(event_facts_from_proto(reply.event), reply.seats_available)

    async def release(self, reservation_id: str, budget: float | None = None) -> Released:
        """Give a reservation's seats back (or fence an id never reserved). Raises PeerUnavailable."""
        request = events_pb2.ReleaseSeatsRequest(reservation_id=reservation_id)
        try:
            reply = await call_with_retries(
                lambda timeout: self.stub.ReleaseSeats(request, timeout=timeout), budget=self._budget(budget)
            )
        except grpc.aio.AioRpcError as error:
            # Not retryable (a bug on either side); the reconciler tries again later, loudly.
            log.error(
                "ReleaseSeats refused", extra={"code": error.code().name, "reservation": reservation_id}
            )
            raise PeerUnavailable(error.code().name) from None
        return Released(reply.seats_released, reply.seats_available)

    async def batch_get(self, event_ids: Iterable[str], budget: float | None = None) -> list[EventFacts]:
        """The facts of the events events knows (unknown ids are left out). Raises PeerUnavailable."""
        return [event_facts_from_proto(event) for event in await self._batch_get(event_ids, budget)]

    async def seats_available(self, event_ids: Iterable[str], budget: float | None = None) -> dict[str, int]:
        """Free seats per known event, now. Raises PeerUnavailable."""
        return {event.id: event.seats_available for event in await self._batch_get(event_ids, budget)}

    async def _batch_get(self, event_ids: Iterable[str], budget: float | None) -> list[events_pb2.Event]:
        request = events_pb2.BatchGetEventsRequest(event_ids=list(event_ids))
        try:
            reply = await call_with_retries(
                lambda timeout: self.stub.BatchGetEvents(request, timeout=timeout),
                budget=self._budget(budget),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                return []
            log.error("BatchGetEvents refused", extra={"code": error.code().name})
            raise PeerUnavailable(error.code().name) from None
        return list(reply.events)


def _refusal(error: grpc.aio.AioRpcError) -> SoldOut | NotBookable | Unknown:
    reason = error_reason(error)
    code = error.code()
    if code == grpc.StatusCode.FAILED_PRECONDITION and reason == "SOLD_OUT":
        metadata = error_metadata(error)
        try:
            available = int(metadata.get("seats_available", "0"))
        except ValueError:
            available = 0
        try:
            version: int | None = int(metadata["seats_version"])
        except (KeyError, ValueError):
            version = None
        return SoldOut(max(available, 0), version)
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
