"""Configuration of the bookings service (SEATMESH_* environment variables)."""

from pydantic import Field

from services.runtime.settings import ServiceSettings


class BookingsSettings(ServiceSettings):
    port: int = Field(default=50053, ge=0, le=65535)
