"""The resources one service process holds, wired once: database, Redis, the users channel, the
token verifier, this service's credential for calling others, and the outbox relay.

Every service's `build()` starts from `Runtime.create(settings, name)` and adds only its own parts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from redis import asyncio as aioredis
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.runtime.auth import Access, KeySet, TokenVerifier
from services.runtime.bus import BusConsumer, Handler, OutboxRelay, stream_name
from services.runtime.clients import (
    ServiceCredentials,
    TokenSource,
    insecure_channel,
    mesh_channel,
    users_jwks_fetcher,
)
from services.runtime.db import create_engine
from services.runtime.redis import create_redis
from services.runtime.server import Service
from services.runtime.settings import ServiceSettings


def method_access(
    service: ServiceDescriptor, *, public: Collection[str] = (), internal: Collection[str] = ()
) -> dict[str, Access]:
    """Access levels by full method path; methods not named are for authenticated callers."""
    names = {method.name for method in service.methods}
    unknown = (set(public) | set(internal)) - names
    if unknown:
        raise ValueError(f"{service.full_name} has no methods {sorted(unknown)}")
    access = {}
    for method in service.methods:
        path = f"/{service.full_name}/{method.name}"
        if method.name in internal:
            access[path] = Access.SERVICE
        elif method.name in public:
            access[path] = Access.PUBLIC
        else:
            access[path] = Access.USER
    return access


@dataclass
class Runtime:
    name: str
    settings: ServiceSettings
    engine: AsyncEngine
    redis: aioredis.Redis
    users_channel: grpc.aio.Channel
    verifier: TokenVerifier
    credentials: TokenSource
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        settings: ServiceSettings,
        name: str,
        *,
        verifier: TokenVerifier | None = None,
        credentials: TokenSource | None = None,
    ) -> Runtime:
        """Overrides are for tests that run a service without a users service beside it."""
        users_channel = insecure_channel(settings.users_address)
        if verifier is None:
            verifier = TokenVerifier(
                KeySet(users_jwks_fetcher(users_channel)),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        return cls(
            name=name,
            settings=settings,
            engine=create_engine(settings.database_url, pool_size=settings.db_pool_size),
            redis=create_redis(settings.redis_url),
            users_channel=users_channel,
            verifier=verifier,
            credentials=credentials
            or ServiceCredentials(users_channel, name, settings.service_secret.get_secret_value()),
        )

    def channel_to(self, address: str) -> grpc.aio.Channel:
        """A channel to another service that authenticates as this service."""
        channel = mesh_channel(address, self.credentials)
        self._channels.append(channel)
        return channel

    def relay(self, outbox: Table) -> OutboxRelay:
        return OutboxRelay(
            engine=self.engine,
            redis=self.redis,
            database_url=self.settings.database_url,
            outbox=outbox,
            stream=stream_name(self.settings.redis_prefix, self.name),
        )

    def consumer(
        self, *, sources: list[str], handlers: Mapping[str, Handler], inbox: Table, **options: Any
    ) -> BusConsumer:
        return BusConsumer(
            engine=self.engine,
            redis=self.redis,
            prefix=self.settings.redis_prefix,
            group=self.name,
            sources=sources,
            handlers=handlers,
            inbox=inbox,
            **options,
        )

    def service(
        self,
        *,
        descriptor: ServiceDescriptor,
        register: Callable[[grpc.aio.Server], None],
        access: Mapping[str, Access],
        background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
    ) -> Service:
        async def close_channels() -> None:
            for channel in [*self._channels, self.users_channel]:
                await channel.close()

        return Service(
            name=self.name,
            service_names=[descriptor.full_name],
            register=[register],
            access=access,
            verifier=self.verifier,
            engine=self.engine,
            background=background or [],
            closers=[close_channels, self.redis.aclose],
        )
