"""Wiring of the users service: every part of one process, constructed here and handed exactly
what it needs.

The users service verifies tokens with its own key ring (never calling itself over the network)
and needs no service credential. Tests may pass `verifier` to make it trust test-minted tokens
instead (as every service under `serve_service` does); `verifier=None` keeps its own.

It does not start without SEATMESH_SERVICE_SECRET: verification codes leave it sealed with that
secret (only notifications, which shares it, opens them), and other services present it for their
tokens. Started without one, it would fail every sign-up and every service's first call instead.
"""

from __future__ import annotations

import asyncio
from functools import partial

from seatmesh.users.v1 import users_pb2_grpc
from services.runtime.app import Runtime
from services.runtime.auth import KeySet, TokenVerifier
from services.runtime.clients import TokenSource
from services.runtime.sealing import Sealer
from services.runtime.server import Service
from services.users import convert
from services.users.consumers import UserConsumers
from services.users.jobs import UserJobs
from services.users.keyring import KeyRing
from services.users.passwords import PasswordHasher
from services.users.servicer import ACCESS, SERVICE, UserServiceServicer
from services.users.settings import UsersSettings
from services.users.store import UserStore, UserTransaction
from services.users.throttles import AddressThrottle, CodeThrottle, LoginThrottle

# Tokens are accepted this long past `exp` by verifiers (runtime.auth), so old keys stay a bit longer.
_CLOCK_LEEWAY = 60.0


def key_ring(settings: UsersSettings) -> KeyRing:
    return KeyRing(
        key_dir=settings.key_dir,
        key_file=settings.signing_key_file,
        rotate_after=settings.key_rotation_seconds,
        publish_lead=settings.key_publish_lead_seconds,
        retire_after=max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds)
        + _CLOCK_LEEWAY,
    )


def own_verifier(settings: UsersSettings, keys: KeyRing) -> TokenVerifier:
    # Its own keys change only through this process, so a short cache costs nothing.
    return TokenVerifier(
        KeySet(keys.fetch_jwks, max_age=5.0, min_refresh_interval=0.5),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


async def build(
    settings: UsersSettings,
    *,
    verifier: TokenVerifier | None = None,
    credentials: TokenSource | None = None,
) -> Service:
    secret = settings.service_secret.get_secret_value()
    keys = key_ring(settings)
    await asyncio.to_thread(keys.reload)
    runtime = Runtime.create(
        settings, "users", verifier=verifier or own_verifier(settings, keys), credentials=credentials
    )
    store = UserStore(runtime.database)
    hasher = await asyncio.to_thread(
        PasswordHasher,
        memory_kib=settings.password_memory_kib,
        time_cost=settings.password_time_cost,
        concurrency=settings.password_hash_concurrency,
    )

    def sign_up_throttle(kind: str) -> AddressThrottle:
        return AddressThrottle(
            runtime.redis,
            settings.redis_prefix,
            kind,
            window=settings.signup_window_seconds,
            per_address=settings.signup_max_per_ip,
            total=settings.signup_max_total,
        )

    servicer = UserServiceServicer(
        settings=settings,
        store=store,
        pages=runtime.pages,
        keys=keys,
        hasher=hasher,
        edge=runtime.edge,
        signups=sign_up_throttle("signups"),
        code_sends=sign_up_throttle("code-sends"),
        logins=LoginThrottle(
            runtime.redis,
            settings.redis_prefix,
            window=settings.login_window_seconds,
            per_email=settings.login_max_failures_per_email,
            per_ip=settings.login_max_failures_per_ip,
        ),
        codes=CodeThrottle(
            runtime.redis,
            settings.redis_prefix,
            interval=settings.verification_resend_interval_seconds,
            per_hour=settings.verification_max_sends_per_hour,
        ),
        sealers={channel: Sealer(secret, purpose) for channel, purpose in convert.SEALING_PURPOSES.items()},
    )
    ratings = runtime.consumer(UserTransaction, sources=["bookings"], handlers=UserConsumers().handlers())
    jobs = UserJobs(store=store, keys=keys, key_reload_interval=settings.key_reload_seconds)
    return runtime.service(
        descriptor=SERVICE,
        register=partial(users_pb2_grpc.add_UserServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay().run, ratings.run, jobs.keep_keys_current, jobs.keep_removing_expired],
    )
