"""OpenTelemetry traces: set up once per process from settings, off (and nearly free) by default.

One request is one trace. Envoy starts it and sends W3C `traceparent` upstream; the RPC interceptor
continues it with a server span per call; calls to other services add a client span and pass the
context on (clients.py); a bus event carries the context in its envelope, and the consumer handles
each message in a child span of the one that published it (bus/); a notification delivery row
remembers the context of the message that created it, so the email sent later joins the trace too.
SQL statements (database.py) and Redis commands (redis.py) get spans only inside a recorded span:
on the request path, in consumers and sends, never in the idle polls of background loops, which
would otherwise make a trace per poll.

Off (`SEATMESH_OTLP_ENDPOINT` empty): no tracer is installed and every hook below returns at its
first test of `_tracer`, so the hot path pays one global lookup per hook and nothing is exported.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_PROPAGATOR = TraceContextTextMapPropagator()

# gRPC codes that mean the server failed (OpenTelemetry's RPC conventions); the others are the
# caller's problem and leave a server span's status unset.
_SERVER_FAULTS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)

_ENDPOINT = re.compile(r"^(?:http://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class OtlpEndpoint:
    """Where spans go: an OpenTelemetry collector's OTLP/gRPC port, without TLS (a collector runs
    beside the mesh; it is the collector that talks to a tracing backend over the network)."""

    host: str
    port: int

    @classmethod
    def parse(cls, value: str) -> OtlpEndpoint:
        """`http://host:port` or `host:port`; ValueError naming what is wrong otherwise."""
        found = _ENDPOINT.match(value.strip())
        if found is None or not 0 < int(found["port"]) < 65536:
            raise ValueError(
                "expected http://HOST:PORT (an OTLP/gRPC collector, e.g. http://127.0.0.1:4317),"
                f" got {value!r}"
            )
        return cls(found["host"].strip("[]"), int(found["port"]))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def tracer_provider(service: str, sample_ratio: float, processor: SpanProcessor) -> TracerProvider:
    """A provider that names the service, samples new traces at `sample_ratio` and follows the
    caller's decision for continued ones (so Envoy's sampling decides a request's whole trace)."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "seatmesh"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(processor)
    return provider


def configure(service: str, endpoint: str, sample_ratio: float) -> None:
    """Set up this process's tracing from its settings: OTLP export to `endpoint`, or nothing."""
    if not endpoint:
        install(None)
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=OtlpEndpoint.parse(endpoint).url, insecure=True)
    install(tracer_provider(service, sample_ratio, BatchSpanProcessor(exporter)))


def install(provider: TracerProvider | None) -> None:
    """Make `provider` the one spans come from (None: tracing off). Tests install their own."""
    global _tracer, _provider
    previous = _provider
    _provider = provider
    _tracer = provider.get_tracer("seatmesh") if provider is not None else None
    if previous is not None and previous is not provider:
        previous.shutdown()


def shutdown() -> None:
    """Export what is still buffered (at process exit)."""
    install(None)


def enabled() -> bool:
    return _tracer is not None


def _recording_parent() -> bool:
    return trace.get_current_span().is_recording()


# -- logs --------------------------------------------------------------------------------------


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as hex, for log lines; None outside a trace."""
    if _tracer is None:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


# -- propagation -------------------------------------------------------------------------------


def inject(carrier: MutableMapping[str, str], span: Span | None = None) -> None:
    """Write the W3C context (`traceparent`, `tracestate`) of `span`, or of the current span, into
    `carrier`; nothing when tracing is off or there is no trace."""
    if _tracer is None:
        return
    context = trace.set_span_in_context(span) if span is not None else None
    _PROPAGATOR.inject(carrier, context=context)


def traceparent() -> str:
    """The current span's W3C `traceparent`, "" outside a trace: what a row that outlives the
    request stores so that the work it stands for joins the trace later."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


class ServerSpan:
    """An RPC's server span, current while the handler runs."""

    def __init__(self, method: str, metadata: Mapping[str, str]) -> None:
        assert _tracer is not None
        service, _, name = method.lstrip("/").partition("/")
        self.span = _tracer.start_span(
            method.lstrip("/"),
            context=_PROPAGATOR.extract(metadata),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def finish(self, code: str, error: BaseException | None = None) -> None:
        """End it with the gRPC code name the call ended with, and the type of the unexpected
        error, if any (its text and traceback go to the log line that has this span's ids)."""
        status = getattr(grpc.StatusCode, code, None)
        if isinstance(status, grpc.StatusCode):
            self.span.set_attribute("rpc.grpc.status_code", status.value[0])
        if code in _SERVER_FAULTS:
            self.span.set_status(Status(StatusCode.ERROR, _described(code, error)))
        self.span.end()
        otel_context.detach(self._token)


# Health checks (Envoy's every second, the kubelet's probes) are not requests anyone follows: a
# trace each would bury the real ones.
_UNTRACED = "/grpc.health."


def server_span(method: str, metadata: Mapping[str, str]) -> ServerSpan | None:
    """The server span of one RPC, its parent from the caller's `traceparent`; None when off
    (and for health checks)."""
    if _tracer is None or method.startswith(_UNTRACED):
        return None
    return ServerSpan(method, metadata)


def start_client_span(method: str) -> Span | None:
    """A client span for a call to another service (not made current: no code of ours runs inside
    it); None when off."""
    if _tracer is None:
        return None
    service, _, name = method.lstrip("/").partition("/")
    return _tracer.start_span(
        method.lstrip("/"),
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )


def end_client_span(span: Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


Attributes = Mapping[str, str | int]


def _described(code: str, error: BaseException | None) -> str:
    return f"{code}: {type(error).__name__}" if error is not None else code


@contextlib.contextmanager
def _current(
    name: str, kind: SpanKind, attributes: Attributes, context: otel_context.Context | None = None
) -> Iterator[None]:
    """A span current inside the block. A failure marks it with the exception's type only: texts
    of database and SMTP errors can quote personal data or a verification code, which stay out of
    traces (the log line, with this span's ids, has what is safe to keep)."""
    assert _tracer is not None
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except Exception as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


_NO_SPAN = contextlib.nullcontext()


def continued(
    carrier: Mapping[str, str], name: str, attributes: Attributes
) -> contextlib.AbstractContextManager[None]:
    """A span (kind CONSUMER) continuing the trace whose context `carrier` holds, current inside
    the block: a bus message handled in the trace that published it. Nothing outside a trace."""
    if _tracer is None or not carrier.get("traceparent"):
        return _NO_SPAN
    return _current(name, SpanKind.CONSUMER, attributes, _PROPAGATOR.extract(carrier))


def resumed(traceparent: str, name: str, attributes: Attributes) -> contextlib.AbstractContextManager[None]:
    """A span (kind CLIENT) for work done later on a trace's behalf, from the `traceparent` a row
    kept (an email sent from the delivery row a bus message created). Nothing when it kept none."""
    if _tracer is None or not traceparent:
        return _NO_SPAN
    return _current(name, SpanKind.CLIENT, attributes, _PROPAGATOR.extract({"traceparent": traceparent}))


# -- SQL and Redis -----------------------------------------------------------------------------


_NO_SPAN = contextlib.nullcontext()


def sql_span(sql: str) -> contextlib.AbstractContextManager[None]:
    """A span around one statement, when it runs inside a recorded span. The text is the compiled
    statement with placeholders: parameter values (emails, tokens) never reach a trace."""
    if _tracer is None or not _recording_parent():
        return _NO_SPAN
    operation = sql.lstrip(" (\n").split(None, 1)[0].upper() if sql.strip() else "SQL"
    return _current(operation, SpanKind.CLIENT, {"db.system": "postgresql", "db.statement": sql})


def redis_span(commands: list[str]) -> contextlib.AbstractContextManager[None]:
    """A span around a Redis command (or a pipeline of them), when it runs inside a recorded span.
    Only command names: keys and values can hold personal data."""
    if _tracer is None or not _recording_parent():
        return _NO_SPAN
    names = [command.upper() for command in commands]
    return _current(
        names[0] if len(names) == 1 else f"PIPELINE {' '.join(sorted(set(names)))}",
        SpanKind.CLIENT,
        {"db.system": "redis", "db.operation": " ".join(names)},
    )
