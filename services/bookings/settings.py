"""Configuration of the bookings service (SEATMESH_* environment variables)."""

from datetime import timedelta

from pydantic import Field

from services.runtime.settings import ServiceSettings


class BookingsSettings(ServiceSettings):
    port: int = Field(default=50053, ge=0, le=65535)
    # The events service: owner of seats (ReserveSeats/ReleaseSeats/BatchGetEvents).
    events_address: str = "127.0.0.1:50052"
    # How long a booking may wait for the host's answer (also ends at the event's start).
    # Seconds or ISO 8601, e.g. 172800 or P2D.
    approval_hold: timedelta = Field(default=timedelta(hours=48), gt=timedelta(0))
    # Seconds one call to events may take, retries included. A client whose booking cannot reach
    # events hears UNAVAILABLE within about this long; the reconciler finishes the booking later.
    events_deadline: float = Field(default=3.0, gt=0, le=60)
    # Seconds event facts (organizer, start time, per-booking limit) are reused without asking
    # events again. Changes reach the cache sooner through the bus; 0 turns the cache off.
    event_cache_ttl: float = Field(default=10.0, ge=0, le=3600)
    # A booking whose reservation outcome is unknown this many seconds is settled by the reconciler
    # (and a release that did not go through is retried after it).
    reconcile_after: float = Field(default=5.0, gt=0, le=3600)
    # How often the background jobs (reconciler, expiry, waitlist sweep) look for work.
    reconcile_interval: float = Field(default=1.0, gt=0, le=600)
    # The payments service: opens the checkout of a booking awaiting payment (OpenCheckout).
    payments_address: str = "127.0.0.1:50055"
    # Seconds one OpenCheckout may take, retries included; a booking whose checkout is not open by
    # then still holds its seats, and the reconciler asks again.
    payments_deadline: float = Field(default=3.0, gt=0, le=60)
    # Seconds this process trusts what it heard of an event's free seats (availability.py): a
    # request for more than are left is answered SOLD_OUT (or waitlisted) at once, without asking
    # events, for at most this long after seats were freed even if the news of it was lost.
    sold_out_window: float = Field(default=1.0, gt=0, le=60)
