"""Configuration of the notifications service (SEATMESH_* environment variables)."""

from pydantic import Field

from services.runtime.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    port: int = Field(default=50054, ge=0, le=65535)
