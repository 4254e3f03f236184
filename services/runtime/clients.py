"""Calling other services of the mesh: channels, the service credential, typed stubs.

A service authenticates to another with a short-lived `service` token that the users service
issues in exchange for the caller's configured secret (client-credentials style). Outgoing calls
carry that token and the current request id, so logs can be followed across services.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol

import grpc

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.auth import JwksFetcher
from services.runtime.logs import request_id_var

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
        return json.loads(body.data)

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

    async def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = list(details.metadata or [])
        request_id = request_id_var.get()
        if request_id:
            metadata.append(("x-request-id", request_id))
        if self.credentials is not None:
            metadata.append(("authorization", "Bearer " + await self.credentials.token()))
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)


def mesh_channel(address: str, credentials: TokenSource | None) -> grpc.aio.Channel:
    """A channel to another service that sends this service's token and the request id."""
    return insecure_channel(address, interceptors=[_MeshMetadata(credentials)])
