"""People and things the security tests act on, made through the edge the way clients make them.

people = sign_in_everyone(mesh, rest)          # the matrix's callers, each a real sign-in
event = Setup(rest).event(people["organizer"], starts_in=timedelta(days=9))
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from scripts.mesh import Mesh
from services.runtime.auth import Role
from tests.support.accounts import Account, mesh_token, signup
from tests.support.admins import create_admin

T = TypeVar("T")

SERVICE_SUBJECT = "service:security-tests"


@dataclass(frozen=True)
class Caller:
    name: str
    account: Account | None = None
    token: str = ""

    @property
    def id(self) -> str:
        return self.account.id if self.account is not None else ""

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.metadata)


def person(account: Account, name: str) -> Caller:
    return Caller(name, account, account.access_token)


def sign_in_everyone(mesh: Mesh, rest: httpx.Client, prefix: str = "") -> dict[str, Caller]:
    """anonymous, participant, participant 2, organizer, organizer 2, admin and service."""
    callers = [
        Caller("anonymous"),
        person(signup(rest, mesh, display_name=f"{prefix}Pat"), "participant"),
        person(signup(rest, mesh, display_name=f"{prefix}Quinn"), "participant 2"),
        person(signup(rest, mesh, role="ROLE_ORGANIZER", display_name=f"{prefix}Olga"), "organizer"),
        person(signup(rest, mesh, role="ROLE_ORGANIZER", display_name=f"{prefix}Otto"), "organizer 2"),
        person(create_admin(rest, mesh, display_name=f"{prefix}Ada"), "admin"),
        Caller("service", token=mesh_token(mesh, SERVICE_SUBJECT, Role.SERVICE)),
    ]
    return {caller.name: caller for caller in callers}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.request.method} {response.request.url}: {response.text}"
    return dict(response.json())


def until(check: Callable[[], T | None], what: str, within: float = 60.0) -> T:
    """The first truthy result of `check`, polled until `within` seconds passed."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not reached in {within:.0f} s: {what}"
        time.sleep(0.2)


class Setup:
    """Events and bookings through the REST API. Every event starts at a time of its own, so one
    guest may book any number of them (two active bookings at one start time are refused)."""

    def __init__(self, rest: httpx.Client) -> None:
        self.rest = rest
        self._slots = itertools.count()
        self._base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)

    def next_start(self) -> datetime:
        return self._base + timedelta(hours=3 * next(self._slots))

    def event(
        self,
        organizer: Caller,
        *,
        start: datetime | None = None,
        duration: timedelta = timedelta(hours=2),
        **fields: Any,
    ) -> dict[str, Any]:
        start = start or self.next_start()
        body = {
            "title": "Security review night",
            "startTime": iso(start),
            "endTime": iso(start + duration),
            "timeZone": "Europe/Berlin",
            "city": "Berlin",
            "venue": "A-Trane",
            "capacity": 50,
            "tags": ["security"],
            **fields,
        }
        return ok(
            self.rest.post(
                "/v1/events", params={"requestId": str(uuid.uuid4())}, json=body, headers=organizer.headers
            )
        )

    def book(self, guest: Caller, event_id: str) -> dict[str, Any]:
        return ok(
            self.rest.post(
                "/v1/bookings",
                params={"requestId": str(uuid.uuid4())},
                json={"eventId": event_id, "seats": 1},
                headers=guest.headers,
            )
        )

    def booking(self, who: Caller, booking_id: str) -> dict[str, Any]:
        return ok(self.rest.get(f"/v1/bookings/{booking_id}", headers=who.headers))
