"""Configuration of the users service (SEATMESH_* environment variables)."""

from pydantic import Field

from services.runtime.settings import ServiceSettings


class UsersSettings(ServiceSettings):
    port: int = Field(default=50051, ge=0, le=65535)
