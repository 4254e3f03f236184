"""Configuration of the events service (SEATMESH_* environment variables)."""

from pydantic import Field

from services.runtime.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    port: int = Field(default=50052, ge=0, le=65535)
    # Seconds GetEvent/ListEvents/ListTags results live in Redis (writes invalidate them sooner).
    cache_ttl: int = Field(default=300, ge=1, le=86_400)
    # Seconds one cache call may take before the request goes to PostgreSQL instead.
    cache_timeout: float = Field(default=0.25, gt=0, le=5)
    # Connections reserved for ReserveSeats/ReleaseSeats (besides the shared pool of db_pool_size).
    inventory_pool_size: int = Field(default=8, ge=1, le=200)
    # How often the completion job looks for events whose end time passed, and how many it
    # completes per transaction.
    completion_interval: float = Field(default=30.0, gt=0, le=3600)
    completion_batch: int = Field(default=500, ge=1, le=10_000)
    # WatchAvailability streams re-read the database this often even when pub/sub is quiet.
    availability_resync: float = Field(default=30.0, gt=0, le=3600)
    # WatchAvailability streams one process holds at most: in all, and per client address (as the
    # edge vouches for it, runtime/edge.py). Streams are anonymous; these keep a few clients from
    # holding every connection and coroutine of a process.
    availability_max_streams: int = Field(default=1000, ge=1, le=100_000)
    availability_max_streams_per_client: int = Field(default=20, ge=1, le=10_000)
