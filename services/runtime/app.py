"""The resources one service process holds, made once: its database, Redis, the users channel,
the token verifier, this service's credential for calling others, page tokens, and the outbox relay.

Every service's `build()` (its app.py) starts from `Runtime.create(settings, name)`, constructs its
own parts from these and hands each exactly what it needs: nothing reaches into anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from redis import asyncio as aioredis

from services.runtime.auth import Access, KeySet, TokenVerifier
from services.runtime.bus.consumer import BusConsumer, Handler
from services.runtime.bus.envelopes import stream_name
from services.runtime.bus.relay import OutboxRelay
from services.runtime.clients import (
    ServiceCredentials,
    TokenSource,
    insecure_channel,
    mesh_channel,
    users_jwks_fetcher,
)
from services.runtime.database import Database, TransactionT
from services.runtime.edge import Edge
from services.runtime.metrics import Reading
from services.runtime.pagination import PageTokens
from services.runtime.redis import create_redis
from services.runtime.server import Service
from services.runtime.settings import ServiceSettings, secret_problem


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
    database: Database
    redis: aioredis.Redis
    users_channel: grpc.aio.Channel
    verifier: TokenVerifier
    credentials: TokenSource
    pages: PageTokens
    edge: Edge
    _channels: list[grpc.aio.Channel] = field(default_factory=list)
    # What the relay and consumers made here report at scrape time (their lag).
    _readings: list[Reading] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        settings: ServiceSettings,
        name: str,
        *,
        verifier: TokenVerifier | None = None,
        credentials: TokenSource | None = None,
    ) -> Runtime:
        """Overrides are for tests that run a service without a users service beside it.

        Refuses to build a service without a usable SEATMESH_SERVICE_SECRET (SystemExit naming it).
        """
        problem = secret_problem("service_secret", settings.service_secret)
        if problem is not None:
            raise SystemExit(f"seatmesh: {problem}")
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
            database=Database(settings.database_url, source=name, pool_size=settings.db_pool_size),
            redis=create_redis(settings.redis_url),
            users_channel=users_channel,
            verifier=verifier,
            credentials=credentials
            or ServiceCredentials(users_channel, name, settings.service_secret.get_secret_value()),
            pages=PageTokens.from_secret(settings.service_secret.get_secret_value()),
            edge=Edge(settings.edge_secret.get_secret_value()),
        )

    def channel_to(self, address: str) -> grpc.aio.Channel:
        """A channel to another service that authenticates as this service."""
        channel = mesh_channel(address, self.credentials)
        self._channels.append(channel)
        return channel

    def relay(self) -> OutboxRelay:
        """Moves this service's outbox rows to its stream (`<prefix>bus:<name>`)."""
        relay = OutboxRelay(
            database=self.database,
            redis=self.redis,
            stream=stream_name(self.settings.redis_prefix, self.name),
        )
        self._readings.append(relay.reading())
        return relay

    def consumer(
        self,
        transaction: Callable[..., TransactionT],
        *,
        sources: list[str],
        handlers: Mapping[str, Handler[TransactionT]],
        **options: Any,
    ) -> BusConsumer[TransactionT]:
        """This service's consumer group on the streams of `sources`; handlers get a `transaction`."""
        consumer = BusConsumer(
            database=self.database,
            transaction=transaction,
            redis=self.redis,
            prefix=self.settings.redis_prefix,
            group=self.name,
            sources=sources,
            handlers=handlers,
            **options,
        )
        self._readings.append(consumer.reading())
        return consumer

    def service(
        self,
        *,
        descriptor: ServiceDescriptor,
        register: Callable[[grpc.aio.Server], None],
        access: Mapping[str, Access],
        background: list[Callable[[], Coroutine[Any, Any, None]]] | None = None,
        readings: list[Reading] | None = None,
    ) -> Service:
        """The service to serve. Its metrics endpoint reports, besides the RPCs and whatever the
        service counts, the lag of the relay and consumers made here and `readings`, the service's
        own backlogs."""

        async def close_channels() -> None:
            for channel in [*self._channels, self.users_channel]:
                await channel.close()

        return Service(
            name=self.name,
            service_names=[descriptor.full_name],
            register=[register],
            access=access,
            verifier=self.verifier,
            database=self.database,
            background=background or [],
            closers=[close_channels, self.redis.aclose],
            readings=[*self._readings, *(readings or [])],
        )
