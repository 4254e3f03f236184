"""Where a message links to: the public URL of the console's pages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Links:
    """Where things are on the public edge, for the links in messages."""

    public_url: str

    def _url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    def events(self) -> str:
        return self._url("/v1/events")

    def event(self, event_id: str) -> str:
        return self._url(f"/v1/events/{event_id}")

    def booking(self, booking_id: str) -> str:
        return self._url(f"/v1/bookings/{booking_id}")

    def my_bookings_of(self, event_id: str) -> str:
        return self._url(f"/v1/bookings?eventId={event_id}")

    def notifications(self) -> str:
        return self._url("/v1/notifications")

    def preferences(self) -> str:
        return self._url("/v1/notifications/preferences")
