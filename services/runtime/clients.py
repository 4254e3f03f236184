"""Calling other services of the mesh: channels, the service credential, typed stubs.

A service authenticates to another with a short-lived `service` token that the users service
issues in exchange for the caller's configured secret (client-credentials style). Outgoing calls
carry that token and the current request id, so logs can be followed across services, and, when
tracing is on, a client span whose W3C context (`traceparent`) the callee continues.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from opentelemetry.trace import Span

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime import tracing
from services.runtime.auth import JwksFetcher
from services.runtime.logs import request_id_var

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Reconnect quickly after a peer restarts (the default backoff grows to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def insecure_channel(
    address: str, interceptors: list[grpc.aio.ClientInterceptor] | None = None
) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)


def users_jwks_fetcher(channel: grpc.aio.Channel, timeout: float = 3.0) -> JwksFetcher:
    stub = users_pb2_grpc.UserServiceStub(channel)

    async def fetch() -> dict[str, Any]:
        body = await stub.GetJwks(users_pb2.GetJwksRequest(), timeout=timeout)
        document: dict[str, Any] = json.loads(body.data)
        return document

    return fetch


class ServiceCredentials:
    """This service's access token, fetched from users and renewed a minute before it expires."""

    def __init__(self, users_channel: grpc.aio.Channel, service_name: str, secret: str) -> None:
        self._stub = users_pb2_grpc.UserServiceStub(users_channel)
        self._service_name = service_name
        self._secret = secret
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token and time.monotonic() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._renew_at:
                return self._token
            reply = await self._stub.IssueServiceToken(
                users_pb2.IssueServiceTokenRequest(service_name=self._service_name, secret=self._secret),
                timeout=3.0,
            )
            self._token = reply.access_token
            self._renew_at = time.monotonic() + max(reply.expires_in - 60, reply.expires_in / 2)
            return self._token


class TokenSource(Protocol):
    """Anything that yields this service's current access token (tests pass a fixed one)."""

    async def token(self) -> str: ...


class _MeshMetadata(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, credentials: TokenSource | None) -> None:
        self.credentials = credentials

    async def _details(
        self, details: grpc.aio.ClientCallDetails, span: Span | None = None
    ) -> grpc.aio.ClientCallDetails:
        metadata = list(details.metadata or [])
        request_id = request_id_var.get()
        if request_id:
            metadata.append(("x-request-id", request_id))
        if self.credentials is not None:
            metadata.append(("authorization", "Bearer " + await self.credentials.token()))
        trace_context: dict[str, str] = {}
        tracing.inject(trace_context, span)
        metadata.extend(trace_context.items())
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = client_call_details.method
        span = tracing.start_client_span(method.decode() if isinstance(method, bytes) else method)
        if span is None:
            return await continuation(await self._details(client_call_details), request)
        # Traced: wait for the answer here, so the span ends when the call does, with its code.
        code = grpc.StatusCode.UNKNOWN
        try:
            call = await continuation(await self._details(client_call_details, span), request)
            response = await call
            code = grpc.StatusCode.OK
            return response
        except grpc.aio.AioRpcError as error:
            code = error.code()
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            tracing.end_client_span(span, code)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        # A stream continues the caller's trace without a span of its own: it may outlive the request.
        return await continuation(await self._details(client_call_details), request)


def mesh_channel(address: str, credentials: TokenSource | None) -> grpc.aio.Channel:
    """A channel to another service that sends this service's token and the request id."""
    return insecure_channel(address, interceptors=[_MeshMetadata(credentials)])


# Worth another try: the peer is restarting, overloaded, or the answer got lost on the way. Only
# for idempotent calls (every call between services of the mesh is).
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


class PeerUnavailable(Exception):
    """Another service did not answer within the time it was given."""


async def call_with_retries(
    attempt: Callable[[float], Awaitable[T]],
    *,
    budget: float,
    retryable: frozenset[grpc.StatusCode] = RETRYABLE,
) -> T:
    """Call `attempt(timeout)` until it answers, retrying transient failures with a short backoff,
    for at most `budget` seconds in all; then PeerUnavailable. Other errors are raised as they are.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + budget
    # One slow attempt must not eat the whole budget when a retry would reach a healthy replica.
    attempt_limit = max(0.5, budget / 2)
    delay = 0.05
    while True:
        remaining = give_up - loop.time()
        if remaining <= 0.01:
            raise PeerUnavailable("deadline spent")
        try:
            return await attempt(min(remaining, attempt_limit))
        except grpc.aio.AioRpcError as error:
            if error.code() not in retryable:
                raise
            if loop.time() + delay >= give_up:
                raise PeerUnavailable(error.code().name) from None
            log.debug("peer call failed; retrying", extra={"code": error.code().name})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
