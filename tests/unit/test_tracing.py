"""Tracing's pieces on their own: the trace context in bus envelopes, trace ids in log lines, server
and client spans of a real gRPC call, SQL and Redis spans only inside a trace, the settings.

Spans go to an in-memory exporter; the whole path through Envoy, the bus and the email is
tests/e2e/test_tracing.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from services.runtime import tracing
from services.runtime.auth import Access
from services.runtime.bus.envelopes import envelope_for, trace_context
from services.runtime.clients import mesh_channel
from services.runtime.interceptors import RpcInterceptor
from services.runtime.logs import JsonFormatter, TextFormatter, request_id_var
from services.runtime.redis import TracedRedis, create_redis
from services.runtime.settings import ServiceSettings


@dataclass
class Recorded:
    """What the services' tracing exported, and a tracer of the same provider for the test's own
    spans (a request's, a publisher's)."""

    exporter: InMemorySpanExporter
    tracer: trace.Tracer

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


@pytest.fixture
def spans() -> Iterator[Recorded]:
    exporter = InMemorySpanExporter()
    provider = tracing.tracer_provider("test", 1.0, SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield Recorded(exporter, provider.get_tracer("test"))
    finally:
        tracing.install(None)


def ids_of(span: trace.Span | ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_an_envelope_carries_the_context_of_the_span_that_published_it(
    spans: Recorded,
) -> None:
    with spans.tracer.start_as_current_span("CreateBooking") as publisher:
        envelope = envelope_for(wrappers_pb2.StringValue(value="e1"), source="events")
    trace_id, span_id = ids_of(publisher)
    assert envelope.traceparent.startswith(f"00-{trace_id}-{span_id}-")
    assert trace_context(envelope) == {"traceparent": envelope.traceparent}

    # The consumer's span is a child of the publisher's, in the same trace.
    with tracing.continued(trace_context(envelope), "handle", {"messaging.system": "redis"}):
        handler_ids = tracing.current_ids()
    (consumed,) = [span for span in spans.finished() if span.name == "handle"]
    assert consumed.kind is SpanKind.CONSUMER
    assert consumed.parent is not None
    assert consumed.parent.span_id == int(span_id, 16)
    assert handler_ids == ids_of(consumed)
    assert ids_of(consumed)[0] == trace_id


def test_an_envelope_published_outside_a_trace_has_no_context(spans: Recorded) -> None:
    envelope = envelope_for(wrappers_pb2.StringValue(value="e1"), source="events")
    assert (envelope.traceparent, envelope.tracestate) == ("", "")
    assert trace_context(envelope) == {}
    with tracing.continued(trace_context(envelope), "handle", {}):
        assert tracing.current_ids() is None
    assert not spans.finished()


def test_with_tracing_off_nothing_is_carried_or_recorded() -> None:
    assert not tracing.enabled()
    envelope = envelope_for(wrappers_pb2.StringValue(value="e1"), source="events")
    assert envelope.traceparent == ""
    assert tracing.server_span("/a.B/C", {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
    assert tracing.start_client_span("/a.B/C") is None
    assert tracing.current_ids() is None
    assert tracing.traceparent() == ""
    assert type(create_redis("redis://127.0.0.1:1/0")) is not TracedRedis


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("seatmesh.test", logging.INFO, __file__, 1, message, (), None)


def test_log_lines_carry_the_trace_and_span_ids(spans: Recorded) -> None:
    token = request_id_var.set("req-1")
    try:
        with spans.tracer.start_as_current_span("work") as span:
            line = json.loads(JsonFormatter("bookings").format(_record("inside")))
            text = TextFormatter("bookings").format(_record("inside"))
        outside = json.loads(JsonFormatter("bookings").format(_record("outside")))
    finally:
        request_id_var.reset(token)
    trace_id, span_id = ids_of(span)
    assert (line["trace_id"], line["span_id"], line["request_id"]) == (trace_id, span_id, "req-1")
    assert f"[trace_id={trace_id} span_id={span_id}]" in text
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_log_lines_carry_the_ids_of_a_trace_that_is_not_sampled() -> None:
    """Sampling decides what is exported, not what logs can be joined by."""
    exporter = InMemorySpanExporter()
    tracing.install(tracing.tracer_provider("test", 0.0, SimpleSpanProcessor(exporter)))
    try:
        server = tracing.server_span("/seatmesh.events.v1.EventService/GetEvent", {})
        assert server is not None
        line = json.loads(JsonFormatter("events").format(_record("unsampled")))
        server.finish("OK")
    finally:
        tracing.install(None)
    assert len(line["trace_id"]) == 32
    assert len(line["span_id"]) == 16
    assert not exporter.get_finished_spans()


ECHO = "/seatmesh.test.v1.Echo/Echo"


async def echo(
    request: wrappers_pb2.StringValue, context: grpc.aio.ServicerContext
) -> wrappers_pb2.StringValue:
    if request.value == "missing":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    return wrappers_pb2.StringValue(value=request.value)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A server with the services' interceptor: an echo RPC, and health."""
    running = grpc.aio.server(interceptors=[RpcInterceptor(None, {ECHO: Access.PUBLIC})])
    running.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "seatmesh.test.v1.Echo",
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(
                        echo,
                        request_deserializer=wrappers_pb2.StringValue.FromString,
                        response_serializer=wrappers_pb2.StringValue.SerializeToString,
                    )
                },
            )
        ]
    )
    health = HealthServicer()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, running)
    port = running.add_insecure_port("127.0.0.1:0")
    await running.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await running.stop(0)


def echo_stub(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        ECHO,
        request_serializer=wrappers_pb2.StringValue.SerializeToString,
        response_deserializer=wrappers_pb2.StringValue.FromString,
    )


async def test_a_call_between_services_is_a_client_span_and_a_server_span_of_one_trace(
    spans: Recorded, server: str
) -> None:
    channel = mesh_channel(server, None)
    try:
        call = echo_stub(channel)
        with spans.tracer.start_as_current_span("request") as request:
            reply = await call(wrappers_pb2.StringValue(value="hello"), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(wrappers_pb2.StringValue(value="missing"), timeout=5)
    finally:
        await channel.close()
    assert reply.value == "hello"
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND

    finished = spans.finished()
    clients = [span for span in finished if span.kind is SpanKind.CLIENT]
    servers = [span for span in finished if span.kind is SpanKind.SERVER]
    assert len(clients) == 2
    assert len(servers) == 2
    request_trace, request_span = ids_of(request)
    for client, served in zip(clients, servers, strict=True):
        assert client.name == served.name == ECHO.lstrip("/")
        assert ids_of(client)[0] == ids_of(served)[0] == request_trace
        assert client.parent is not None
        assert client.parent.span_id == int(request_span, 16)
        # The server continued the client's context (traceparent in the call's metadata).
        assert served.parent is not None
        assert served.parent.span_id == client.context.span_id
        assert served.parent.is_remote
        assert served.attributes is not None
        assert served.attributes["rpc.system"] == "grpc"
        assert served.attributes["rpc.service"] == "seatmesh.test.v1.Echo"
        assert served.attributes["rpc.method"] == "Echo"
    assert clients[0].attributes is not None
    assert clients[0].attributes["rpc.grpc.status_code"] == 0
    assert clients[1].attributes is not None
    assert clients[1].attributes["rpc.grpc.status_code"] == 5
    assert clients[1].status.status_code is StatusCode.ERROR
    # NOT_FOUND is the caller's problem, not the server's: its span is not an error.
    assert servers[1].attributes is not None
    assert servers[1].attributes["rpc.grpc.status_code"] == 5
    assert servers[1].status.status_code is StatusCode.UNSET


async def test_a_call_from_outside_a_trace_starts_one_at_the_server(spans: Recorded, server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        await echo_stub(channel)(wrappers_pb2.StringValue(value="hi"), timeout=5)
    (served,) = spans.finished()
    assert served.kind is SpanKind.SERVER
    assert served.parent is None


async def test_health_checks_are_not_traced(spans: Recorded, server: str) -> None:
    """Envoy checks every service every second: a trace each would bury the requests."""
    async with grpc.aio.insecure_channel(server) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert not spans.finished()


def test_sql_and_redis_spans_only_inside_a_recorded_span(spans: Recorded) -> None:
    sql = "UPDATE events SET seats_taken = seats_taken + %(seats)s WHERE id = %(id)s"
    with tracing.sql_span(sql), tracing.redis_span(["XADD"]):
        pass
    assert not spans.finished()

    with spans.tracer.start_as_current_span("request"):
        with tracing.sql_span(sql):
            pass
        with tracing.redis_span(["xadd"]):
            pass
        with tracing.redis_span(["INCR", "EXPIRE", "INCR"]):
            pass
    statement, command, pipeline, _ = spans.finished()
    assert statement.name == "UPDATE"
    assert statement.kind is SpanKind.CLIENT
    assert statement.attributes is not None
    assert statement.attributes["db.system"] == "postgresql"
    # The statement as compiled: placeholders, never the values.
    assert statement.attributes["db.statement"] == sql
    assert command.name == "XADD"
    assert command.attributes is not None
    assert command.attributes["db.system"] == "redis"
    assert pipeline.name == "PIPELINE EXPIRE INCR"
    assert pipeline.attributes is not None
    assert pipeline.attributes["db.operation"] == "INCR EXPIRE INCR"


def test_the_redis_client_is_traced_when_tracing_is_on(spans: Recorded) -> None:
    assert type(create_redis("redis://127.0.0.1:1/0")) is TracedRedis


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("http://127.0.0.1:4317", "http://127.0.0.1:4317"),
        ("otel-collector.observability:4317", "http://otel-collector.observability:4317"),
        ("http://[::1]:4317", "http://[::1]:4317"),
    ],
)
def test_the_otlp_endpoint_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("SEATMESH_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv("SEATMESH_OTLP_ENDPOINT", value)
    assert ServiceSettings().otlp_endpoint == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SEATMESH_OTLP_ENDPOINT", "https://collector:4317"),
        ("SEATMESH_OTLP_ENDPOINT", "http://collector:4317/v1/traces"),
        ("SEATMESH_OTLP_ENDPOINT", "collector"),
        ("SEATMESH_TRACE_SAMPLE_RATIO", "1.5"),
        ("SEATMESH_TRACE_SAMPLE_RATIO", "-0.1"),
    ],
)
def test_malformed_tracing_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("SEATMESH_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_a_failure_marks_the_span_without_the_error_text(spans: Recorded) -> None:
    """Database and SMTP errors can quote an email address or a verification code: spans keep only
    the error's type (the log line with the span's ids has the rest)."""
    with (
        spans.tracer.start_as_current_span("request"),
        pytest.raises(ValueError, match="duplicate key"),
        tracing.sql_span("INSERT INTO users (email) VALUES (%(email)s)"),
    ):
        raise ValueError("duplicate key: (email)=(ada@example.com)")
    with (
        pytest.raises(ConnectionError),
        tracing.resumed(
            "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "send email", {"seatmesh.delivery.channel": "EMAIL"}
        ),
    ):
        raise ConnectionError("550 123456 is not accepted")
    statement = next(span for span in spans.finished() if span.name == "INSERT")
    sent = next(span for span in spans.finished() if span.name == "send email")
    for failed in (statement, sent):
        assert failed.status.status_code is StatusCode.ERROR
        assert failed.status.description in {"ValueError", "ConnectionError"}
        assert not failed.events
    assert sent.kind is SpanKind.CLIENT
    assert format(sent.context.trace_id, "032x") == "a" * 32
    assert sent.parent is not None
    assert sent.parent.span_id == int("b" * 16, 16)
