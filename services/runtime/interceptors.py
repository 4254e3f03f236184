"""The one server interceptor every service runs.

Per RPC it: takes Envoy's `x-request-id` (or makes one) into the log context; authenticates the
bearer token and checks the method's access level; refuses a request that does not decode (a corrupt
protobuf, a REST path id that is not UTF-8) or whose text holds control characters
(runtime/validation.py), before any handler sees it; turns `ServiceError` into a rich
`google.rpc.Status`; turns anything unexpected into INTERNAL carrying only the request id (the
traceback goes to the log); records Prometheus metrics (runtime/metrics.py) and, when tracing is on,
the call's server span, continuing the caller's trace (runtime/tracing.py). Handlers are wrapped
once per method, not per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc

from services.runtime import tracing
from services.runtime.auth import Access, Principal, TokenVerifier, bearer_token, check_access, principal_var
from services.runtime.errors import ServiceError, invalid_argument, is_transient, unavailable
from services.runtime.logs import request_id_var
from services.runtime.metrics import RPC_SECONDS, RPC_TOTAL
from services.runtime.validation import text_violations

log = logging.getLogger("seatmesh.rpc")

T = TypeVar("T")


class _Undecodable:
    """What a request that did not decode becomes, so the wrapper can answer it properly (gRPC would
    otherwise answer UNKNOWN with the parser's exception text)."""


UNDECODABLE = _Undecodable()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return UNDECODABLE

    return parse


def _undecodable() -> ServiceError:
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "the request could not be decoded: it is not valid protobuf, or a text field (a path id, a "
        "query parameter) is not valid UTF-8",
        reason="UNDECODABLE_REQUEST",
    )


# Health and reflection are open to everyone, on every server.
_OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def request_metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    """The call's text metadata (binary `-bin` entries left out), keys lower-case as gRPC gives them."""
    result: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            result[key] = value
    return result


def _restore(var: contextvars.ContextVar[T], token: contextvars.Token[T]) -> None:
    """Undo what `_rpc` set for the call. A stream its client stopped reading is closed by
    asyncio's finalizer in a task of its own, whose Context never held the call's values: nothing
    to undo there (and Token.reset refuses a token of another Context)."""
    with contextlib.suppress(ValueError):
        var.reset(token)


def _code_name(error: Exception) -> str:
    if isinstance(error, ServiceError):
        return str(error.code.name)
    if is_transient(error):
        return "UNAVAILABLE"
    return "UNIMPLEMENTED" if isinstance(error, NotImplementedError) else "INTERNAL"


def _span_code(code: str, context: grpc.aio.ServicerContext) -> str:
    """The gRPC code a call ended with; for a handler's own abort, the code it aborted with."""
    if code != "ABORTED_BY_HANDLER":
        return code
    aborted = context.code()
    return aborted.name if isinstance(aborted, grpc.StatusCode) else "UNKNOWN"


class RpcInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier | None, access: Mapping[str, Access]) -> None:
        """`access` maps full method paths (/pkg.Service/Method) to who may call them; USER by default."""
        self.verifier = verifier
        self.access = dict(access)
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def access_for(self, method: str) -> Access:
        if method.startswith(_OPEN_PREFIXES):
            return Access.PUBLIC
        return self.access.get(method, Access.USER)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = wrapped
        return wrapped

    async def _authenticate(self, method: str, metadata: dict[str, str]) -> Principal | None:
        access = self.access_for(method)
        token = bearer_token(metadata)
        principal = None
        if token is not None and self.verifier is not None:
            principal = await self.verifier.verify(token)
        check_access(access, principal)
        return principal

    async def _fail(self, context: grpc.aio.ServicerContext, method: str, error: BaseException) -> None:
        if isinstance(error, ServiceError):
            level = logging.WARNING if error.code == grpc.StatusCode.UNAVAILABLE else logging.INFO
            log.log(
                level, "rpc failed", extra={"method": method, "code": error.code.name, "reason": error.reason}
            )
            await context.abort_with_status(error.to_grpc_status())
        if is_transient(error):
            # The database, Redis or a peer is down: the client may retry; the details go to the log.
            log.warning("dependency unavailable", exc_info=error, extra={"method": method})
            await context.abort_with_status(
                unavailable(
                    "DEPENDENCY_UNAVAILABLE", "a dependency is unavailable; retry shortly", 1.0
                ).to_grpc_status()
            )
        if isinstance(error, NotImplementedError):
            # The generated base servicer's answer for an RPC this server does not implement.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
        request_id = request_id_var.get()
        log.error("unexpected error", exc_info=error, extra={"method": method})
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error; request id {request_id}")

    @contextlib.asynccontextmanager
    async def _rpc(
        self, method: str, context: grpc.aio.ServicerContext, request: Any, *, timed: bool
    ) -> AsyncIterator[None]:
        """Around every call: request id, caller, the request's own validity, metrics, its span,
        and errors as rich statuses."""
        metadata = request_metadata(context)
        request_token = request_id_var.set(metadata.get("x-request-id") or uuid.uuid4().hex)
        span = tracing.server_span(method, metadata)
        started = time.perf_counter()
        code = "OK"
        unexpected: Exception | None = None
        try:
            principal_token = principal_var.set(await self._authenticate(method, metadata))
            if request is UNDECODABLE:
                raise _undecodable()
            violations = list(text_violations(request))
            if violations:
                raise invalid_argument(violations)
            try:
                yield
            finally:
                _restore(principal_var, principal_token)
        except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit) as stopped:
            # GeneratorExit: the client stopped reading a stream, which is being closed.
            code = "ABORTED_BY_HANDLER" if isinstance(stopped, grpc.aio.AbortError) else "CANCELLED"
            raise
        except Exception as error:
            code = _code_name(error)
            unexpected = error if code == "INTERNAL" else None
            await self._fail(context, method, error)
        finally:
            RPC_TOTAL.labels(method, code).inc()
            if timed:
                RPC_SECONDS.labels(method).observe(time.perf_counter() - started)
            if span is not None:
                span.finish(_span_code(code, context), unexpected)
            _restore(request_id_var, request_token)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                async with self._rpc(method, context, request, timed=True):
                    return await inner_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )

        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with self._rpc(method, context, request, timed=False):
                    async for item in inner_stream(request, context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )

        # Client- and bidi-streaming (reflection) need no auth and carry no domain errors.
        return handler
