"""Typed configuration from `SEATMESH_*` environment variables, read once at start-up.

A missing or malformed value stops the process with a message naming the variable, so a typo in a
deployment shows up at boot rather than as odd behaviour later.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.tracing import OtlpEndpoint

ENV_PREFIX = "SEATMESH_"


class ServiceSettings(BaseSettings):
    """What every service needs. Each service subclasses it with its own fields and port default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # Several server processes on one port (SO_REUSEPORT); each has its own event loop.
    workers: int = Field(default=1, ge=1, le=64)
    # This service's own database, e.g. postgresql://postgres@127.0.0.1:5432/seatmesh_events.
    # It is created when missing.
    database_url: str = Field(min_length=1)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every Redis key and stream name starts with this, so meshes can share one Redis.
    redis_prefix: str = "seatmesh:"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace: float = Field(default=5.0, ge=0)
    migrate_on_start: bool = True
    # 0 disables the Prometheus endpoint.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # OpenTelemetry traces go to this OTLP/gRPC collector (http://host:port); empty: tracing off.
    otlp_endpoint: str = ""
    # Share of the traces a service starts itself that are recorded; a trace Envoy started keeps
    # Envoy's decision (the edge samples at the same ratio).
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)

    # Identity: where the users service is, what tokens must say, and this service's credential.
    users_address: str = "127.0.0.1:50051"
    jwt_issuer: str = "seatmesh"
    jwt_audience: str = "seatmesh"
    # Required, at least MIN_SECRET_BYTES: services exchange it for service tokens, page tokens are
    # signed with a key derived from it, verification codes travel sealed under it. A service
    # refuses to start without it rather than start and then fail every internal call.
    service_secret: SecretStr = SecretStr("")
    # What Envoy presents (x-seatmesh-edge) so that the client address it sends is believed; the
    # same value must be in Envoy's environment. Empty: every caller is known by its peer address.
    edge_secret: SecretStr = SecretStr("")
    # Unverified accounts may not create events or bookings; `false` only for local demos.
    require_email_verification: bool = True

    # Development aids; never enable in production.
    dev_mode: bool = False

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_ends_with_colon(cls, value: str) -> str:
        return value if value.endswith(":") else value + ":"

    @field_validator("otlp_endpoint")
    @classmethod
    def _otlp_endpoint_is_an_address(cls, value: str) -> str:
        return OtlpEndpoint.parse(value).url if value.strip() else ""


MIN_SECRET_BYTES = 32


def secret_problem(name: str, secret: SecretStr) -> str | None:
    """Why a shared secret is unusable, naming its variable; None when it is fine."""
    value = secret.get_secret_value().encode()
    if not value:
        return (
            f"{ENV_PREFIX}{name.upper()} is not set: give every service the same random string of"
            f" at least {MIN_SECRET_BYTES} bytes (make run keeps one in var/)"
        )
    if len(value) < MIN_SECRET_BYTES:
        return (
            f"{ENV_PREFIX}{name.upper()} is {len(value)} bytes long; it must be at least {MIN_SECRET_BYTES}"
        )
    return None


S = TypeVar("S", bound=BaseSettings)


def describe_errors(error: ValidationError, prefix: str = ENV_PREFIX) -> list[str]:
    lines = []
    for item in error.errors():
        name = prefix + "_".join(str(part) for part in item["loc"]).upper()
        got = item.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {str(got)[:60]!r})"
        lines.append(f"{name}: {item['msg']}{shown}")
    return lines


def load_settings(cls: type[S]) -> S:
    """Read settings or exit(2) with one line per bad variable."""
    try:
        return cls()
    except ValidationError as error:
        print("seatmesh: invalid configuration:", file=sys.stderr)
        for line in describe_errors(error):
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(2) from None
