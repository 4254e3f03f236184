"""Configuration of the events service (SEATMESH_* environment variables)."""

from pydantic import Field

from services.runtime.settings import ServiceSettings


class EventsSettings(ServiceSettings):
    port: int = Field(default=50052, ge=0, le=65535)
