"""The events service, for an event this service has not heard of on the bus (SendNotification
to the attendees of an event that has no booking yet, or was created before it listened)."""

from __future__ import annotations

import logging

import grpc

from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.notifications.convert import known_event
from services.notifications.domain.records import KnownEvent
from services.runtime.errors import unavailable

log = logging.getLogger(__name__)


class EventsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 3.0) -> None:
        self.stub = events_pb2_grpc.EventServiceStub(channel)
        self.timeout = timeout

    async def event(self, event_id: str) -> KnownEvent | None:
        """The event as events describes it; None when events does not know it.

        A caller is waiting (an RPC): when events does not answer, it is told to try again
        (UNAVAILABLE, EVENTS_UNAVAILABLE) rather than kept waiting.
        """
        try:
            reply = await self.stub.BatchGetEvents(
                events_pb2.BatchGetEventsRequest(event_ids=[event_id]), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as error:
            log.warning("events.BatchGetEvents failed", extra={"code": error.code().name})
            raise unavailable("EVENTS_UNAVAILABLE", "could not look the event up; try again") from None
        return known_event(reply.events[0]) if reply.events else None
