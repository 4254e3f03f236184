"""Wiring of the users service: what runs in one process.

The users service verifies tokens with its own key ring (never calling itself over the network)
and needs no service credential. Tests may pass `verifier` to make it trust test-minted tokens
instead (as every service under `serve_service` does); `verifier=None` keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from seatmesh.users.v1 import users_pb2_grpc
from services.runtime.app import Runtime
from services.runtime.auth import KeySet, TokenVerifier
from services.runtime.server import Service
from services.users import consumers, models, store
from services.users.keyring import KeyRing
from services.users.passwords import PasswordHasher
from services.users.ratelimit import CodeThrottle, LoginThrottle
from services.users.servicer import ACCESS, SERVICE, UserServiceServicer
from services.users.settings import UsersSettings

log = logging.getLogger(__name__)

# Tokens are accepted this long past `exp` by verifiers (runtime.auth), so old keys stay a bit longer.
_CLOCK_LEEWAY = 60.0
_CLEANUP_INTERVAL = 3600.0


def key_ring(settings: UsersSettings) -> KeyRing:
    return KeyRing(
        key_dir=settings.key_dir,
        key_file=settings.signing_key_file,
        rotate_after=settings.key_rotation_seconds,
        publish_lead=settings.key_publish_lead_seconds,
        retire_after=max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds)
        + _CLOCK_LEEWAY,
    )


async def _reload_keys(keys: KeyRing, interval: float) -> None:
    """Pick up keys other replicas created, rotate when due, hand over on time."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(keys.reload)
        except Exception:
            # Keep signing with the keys we have; the next round tries again.
            log.error("could not reload signing keys", exc_info=True)


async def _clean_up(runtime: Runtime) -> None:
    while True:
        try:
            async with runtime.engine.begin() as connection:
                removed = await store.delete_expired(connection)
            if removed:
                log.info("removed expired refresh tokens and codes", extra={"rows": removed})
        except Exception:
            log.warning("cleanup failed; will retry", exc_info=True)
        await asyncio.sleep(_CLEANUP_INTERVAL)


async def build(settings: UsersSettings, **overrides: Any) -> Service:
    keys = key_ring(settings)
    await asyncio.to_thread(keys.reload)
    if overrides.get("verifier") is None:
        # Its own keys change only through this process, so a short cache costs nothing.
        overrides["verifier"] = TokenVerifier(
            KeySet(keys.fetch_jwks, max_age=5.0, min_refresh_interval=0.5),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    runtime = Runtime.create(settings, "users", **overrides)
    prefix = settings.redis_prefix
    servicer = UserServiceServicer(
        settings=settings,
        engine=runtime.engine,
        keys=keys,
        hasher=await asyncio.to_thread(
            PasswordHasher,
            memory_kib=settings.password_memory_kib,
            time_cost=settings.password_time_cost,
            concurrency=settings.password_hash_concurrency,
        ),
        logins=LoginThrottle(
            runtime.redis,
            prefix,
            window=settings.login_window_seconds,
            per_email=settings.login_max_failures_per_email,
            per_ip=settings.login_max_failures_per_ip,
        ),
        codes=CodeThrottle(
            runtime.redis,
            prefix,
            interval=settings.verification_resend_interval_seconds,
            per_hour=settings.verification_max_sends_per_hour,
        ),
    )
    ratings = runtime.consumer(sources=["bookings"], handlers=consumers.HANDLERS, inbox=models.inbox)
    return runtime.service(
        descriptor=SERVICE,
        register=partial(users_pb2_grpc.add_UserServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[
            runtime.relay(models.outbox).run,
            ratings.run,
            partial(_reload_keys, keys, settings.key_reload_seconds),
            partial(_clean_up, runtime),
        ],
    )
