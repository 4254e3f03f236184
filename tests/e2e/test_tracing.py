"""One REST booking through the real Envoy is one trace: the edge, bookings, events, and the
notifications consumer and email that the booking set off through the bus.

The mesh is started as `make run` starts it, with SEATMESH_OTLP_ENDPOINT pointing at a small OTLP
receiver: a grpc.aio server implementing the collector's TraceService from opentelemetry-proto,
which keeps every span it is sent.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2

from scripts.embedded import free_port
from scripts.mesh import Mesh, MeshOptions
from tests.support.accounts import signup
from tests.support.engines import Engines

pytestmark = pytest.mark.e2e

CREATE_BOOKING = "seatmesh.bookings.v1.BookingService/CreateBooking"
RESERVE_SEATS = "seatmesh.events.v1.EventService/ReserveSeats"
HANDLE_CONFIRMED = "handle seatmesh.bookings.v1.BookingConfirmed"
SEND_EMAIL = "send email"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, str]


def _text(value: common_pb2.AnyValue) -> str:
    kind = value.WhichOneof("value")
    return str(getattr(value, kind)) if kind else ""


class TraceCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = []
        for resource_spans in request.resource_spans:
            resource = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={item.key: _text(item.value) for item in span.attributes},
                        )
                    )
        with self._lock:
            self._spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)


class OtlpReceiver:
    """The receiver on a port of its own, served by its own event loop in a thread (the tests and
    the mesh launcher are synchronous)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.collector = TraceCollector()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(),), daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self) -> None:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self.collector, server)
        server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.stop(0)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        assert self._ready.wait(10), "the OTLP receiver did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_mesh(
    engines: Engines, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mesh]:
    running = Mesh(
        MeshOptions(
            var_dir=tmp_path_factory.mktemp("traced-mesh"),
            database_url=engines.server_url,
            redis_url=engines.redis_url,
            database_prefix=f"{engines.database_prefix}_traced",
            redis_prefix=engines.new_redis_prefix(),
            free_ports=True,
            env={
                "SEATMESH_OTLP_ENDPOINT": receiver.endpoint,
                "SEATMESH_TRACE_SAMPLE_RATIO": "1",
                # The SDK's own variable: export every 200 ms instead of every 5 s.
                "OTEL_BSP_SCHEDULE_DELAY": "200",
            },
        )
    )
    running.start(timeout=90)
    try:
        yield running
    finally:
        running.stop()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ancestry(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    """The span and its parents up to the root, as far as they were received."""
    chain = [span]
    while chain[-1].parent_span_id and chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain


def test_one_rest_booking_is_one_trace_from_the_edge_to_the_email(
    traced_mesh: Mesh, receiver: OtlpReceiver
) -> None:
    with httpx.Client(base_url=traced_mesh.rest_url, timeout=10) as rest:
        organizer = signup(rest, traced_mesh, role="ROLE_ORGANIZER")
        guest = signup(rest, traced_mesh)
        start = datetime.now(UTC) + timedelta(days=10)
        created = rest.post(
            "/v1/events",
            params={"requestId": f"traced-{uuid.uuid4()}"},
            headers=organizer.headers,
            json={
                "title": "Traced night",
                "startTime": iso(start),
                "endTime": iso(start + timedelta(hours=2)),
                "timeZone": "Europe/Berlin",
                "city": "Berlin",
                "venue": "Trace hall",
                "capacity": 10,
            },
        )
        assert created.status_code == 200, created.text
        booking_request = f"traced-{uuid.uuid4()}"
        booked = rest.post(
            "/v1/bookings",
            params={"requestId": booking_request},
            headers=guest.headers,
            json={"eventId": created.json()["id"], "seats": 1},
        )
        assert booked.status_code == 200, booked.text
        assert booked.json()["state"] == "CONFIRMED"

    def the_booking_trace() -> list[ReceivedSpan]:
        spans = receiver.collector.spans()
        roots = {
            span.trace_id for span in spans if span.service == "bookings" and span.name == CREATE_BOOKING
        }
        assert len(roots) <= 1, "the booking's RPC appears in more than one trace"
        if not roots:
            return []
        (trace_id,) = roots
        found = [span for span in spans if span.trace_id == trace_id]
        names = {(span.service, span.name) for span in found}
        # Envoy exports every few seconds, the services within a fraction of one.
        edge_root = any(span.service == "envoy" and not span.parent_span_id for span in found)
        complete = ("notifications", SEND_EMAIL) in names and edge_root
        return found if complete else []

    deadline = time.monotonic() + 45
    trace = the_booking_trace()
    while not trace:
        assert time.monotonic() < deadline, sorted({(s.service, s.name) for s in receiver.collector.spans()})
        time.sleep(0.5)
        trace = the_booking_trace()

    by_id = {span.span_id: span for span in trace}
    services = {span.service for span in trace}
    assert {"envoy", "bookings", "events", "notifications"} <= services

    # The edge started it: its span of the REST request is the root.
    (root,) = [span for span in trace if not span.parent_span_id]
    assert root.service == "envoy"
    assert f"/v1/bookings?requestId={booking_request}" in root.attributes["http.url"]

    (create,) = [span for span in trace if span.service == "bookings" and span.name == CREATE_BOOKING]
    assert ancestry(create, by_id)[-1] is root
    reserve = [span for span in trace if span.service == "events" and span.name == RESERVE_SEATS]
    assert reserve, "events' ReserveSeats is not in the booking's trace"
    # bookings -> events went through bookings' client span.
    assert create in ancestry(reserve[0], by_id)
    # The statements on the way are spans too (no parameter values in them).
    assert any(
        span.service == "events" and span.attributes.get("db.system") == "postgresql" for span in trace
    )

    # The bus carried the context: the consumer's span and the email sent from the row it created
    # descend from the booking's RPC.
    (handled,) = [span for span in trace if span.service == "notifications" and span.name == HANDLE_CONFIRMED]
    assert create in ancestry(handled, by_id)
    (email,) = [span for span in trace if span.service == "notifications" and span.name == SEND_EMAIL]
    assert handled in ancestry(email, by_id)
    assert ancestry(email, by_id)[-1] is root
