"""Configuration of the notifications service (SEATMESH_* environment variables)."""

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from services.runtime.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    port: int = Field(default=50054, ge=0, le=65535)
    # Events answers ownership questions the local projection cannot (SendNotification).
    events_address: str = "127.0.0.1:50052"
    # Base of every link in a notification (the REST edge, or a web client in front of it).
    public_url: str = "http://127.0.0.1:8080"

    # Email over SMTP. The defaults point at the development sink `make run` starts.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    # STARTTLS after connecting (port 587), or TLS from the first byte (port 465).
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_from: str = "seatmesh <no-reply@seatmesh.localhost>"
    # Seconds to connect, and again for one whole message (MAIL, RCPT, DATA).
    smtp_timeout: float = Field(default=15.0, gt=0)
    # An idle connection is kept this many seconds for the next batch (0: close after each batch).
    smtp_idle_timeout: float = Field(default=10.0, ge=0)

    # SMS: `console` logs messages (development); `http` POSTs JSON to a gateway.
    sms_provider: Literal["console", "http"] = "console"
    sms_gateway_url: str = ""
    sms_gateway_token: SecretStr = SecretStr("")
    sms_timeout: float = Field(default=10.0, gt=0)

    # The delivery worker: how much it claims at once and how it retries.
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_concurrency: int = Field(default=4, ge=1, le=64)
    delivery_poll_interval: float = Field(default=1.0, gt=0)
    # A recipient-level failure (4xx) counts as an attempt; after this many the delivery is FAILED.
    delivery_max_attempts: int = Field(default=5, ge=1, le=100)
    delivery_retry_base: float = Field(default=10.0, gt=0)
    delivery_retry_max: float = Field(default=900.0, gt=0)
    # A claimed delivery belongs to its worker this long; a worker that died leaves it to others
    # after the lease (and its attempt stays counted, so a message that kills the process ends FAILED).
    delivery_lease: float = Field(default=300.0, gt=0)
    # While the SMTP server or the SMS gateway is unreachable nothing counts as an attempt; a delivery
    # still waiting after this many seconds is given up (FAILED).
    delivery_max_age: float = Field(default=86_400.0, gt=0)

    # Reminders before an event starts (seconds); tests shorten them.
    reminder_24h_offset: float = Field(default=86_400.0, gt=0)
    reminder_1h_offset: float = Field(default=3_600.0, gt=0)
    # A guest who has not paid is reminded this many seconds before their booking's hold ends.
    payment_reminder_offset: float = Field(default=300.0, gt=0)
    reminder_poll_interval: float = Field(default=15.0, gt=0)

    # SendNotification: how many messages one sender may send, and one event's guests may get, per
    # window (every email and SMS they fan out to costs the operator).
    send_max_per_sender: int = Field(default=20, ge=1)
    send_max_per_event: int = Field(default=10, ge=1)
    send_window_seconds: int = Field(default=3600, ge=1)

    # WatchNotifications streams one process holds at most: in all, and per user.
    watch_max_streams: int = Field(default=10_000, ge=1, le=100_000)
    watch_max_streams_per_user: int = Field(default=10, ge=1, le=1000)

    # Bus messages that keep failing go to the dead-letter stream after this many tries.
    bus_max_attempts: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.smtp_starttls and self.smtp_tls:
            raise ValueError("SEATMESH_SMTP_STARTTLS and SEATMESH_SMTP_TLS exclude each other")
        if self.sms_provider == "http" and not self.sms_gateway_url:
            raise ValueError("SEATMESH_SMS_GATEWAY_URL is required with SEATMESH_SMS_PROVIDER=http")
        if self.delivery_lease < self.send_budget + 2:
            raise ValueError(
                "SEATMESH_DELIVERY_LEASE must leave room for one send "
                f"(at least {self.send_budget + 2:g}s with these timeouts)"
            )
        return self

    @property
    def send_budget(self) -> float:
        """The longest one send can take: connecting plus one message, or one SMS request."""
        return max(2 * self.smtp_timeout, self.sms_timeout)
