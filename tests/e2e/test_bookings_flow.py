"""Bookings through the real Envoy (REST + JWT), with every service of the mesh running.

Races use hundreds of distinct users (tokens minted with the mesh's own key); flows that end on a
public profile use real sign-ups. After each test the seat invariant is checked in the databases:
seats_taken == sum(seats of CONFIRMED + AWAITING_APPROVAL + AWAITING_PAYMENT bookings), never above
capacity.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from scripts.mesh import Mesh
from services.runtime.migrations import libpq_conninfo
from tests.support.accounts import Account, mesh_token, signup

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Person:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def person(mesh: Mesh, role: str = "participant") -> Person:
    user_id = str(uuid.uuid4())
    return Person(user_id, mesh_token(mesh, user_id, role))


def from_account(account: Account) -> Person:
    return Person(account.id, account.access_token)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail.get("reason", ""))
    return ""


def metadata(response: httpx.Response) -> dict[str, str]:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return dict(detail.get("metadata", {}))
    return {}


def create_event(
    rest: httpx.Client,
    organizer: Person,
    *,
    capacity: int,
    start: datetime | None = None,
    lasts: timedelta = timedelta(hours=2),
    **fields: Any,
) -> dict[str, Any]:
    begin = start or datetime.now(UTC) + timedelta(days=14)
    body = {
        "title": fields.pop("title", "E2E concert"),
        "startTime": iso(begin),
        "endTime": iso(begin + lasts),
        "timeZone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "Hall",
        "capacity": capacity,
        "maxSeatsPerBooking": min(4, capacity),
        **fields,
    }
    response = rest.post(
        "/v1/events", params={"requestId": str(uuid.uuid4())}, json=body, headers=organizer.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def booking_body(event_id: str, seats: int = 1, waitlist: bool = False) -> dict[str, Any]:
    return {"eventId": event_id, "seats": seats, "joinWaitlist": waitlist}


def book(
    rest: httpx.Client, guest: Person, event_id: str, seats: int = 1, *, request_id: str | None = None
) -> httpx.Response:
    return rest.post(
        "/v1/bookings",
        params={"requestId": request_id or str(uuid.uuid4())},
        json=booking_body(event_id, seats),
        headers=guest.headers,
    )


@pytest.fixture
async def client(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    # Enough connections for real races; many more only slow this client down.
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=60, limits=limits) as async_client:
        yield async_client


def _query(mesh: Mesh, service: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_conninfo(mesh.service_database_url(service))) as connection:
        return list(connection.execute(sql, params).fetchall())


def settled_and_agreed(mesh: Mesh, event_id: str) -> tuple[bool, int, int, int]:
    unsettled, held = _query(
        mesh,
        "bookings",
        "SELECT count(*) FILTER (WHERE state = 'PENDING' OR release_pending), "
        "coalesce(sum(seats) FILTER (WHERE state IN ('CONFIRMED', 'AWAITING_APPROVAL', 'AWAITING_PAYMENT')),"
        " 0) "
        "FROM bookings WHERE event_id = %s",
        event_id,
    )[0]
    taken, capacity = _query(
        mesh, "events", "SELECT seats_taken, capacity FROM events WHERE id = %s", uuid.UUID(event_id)
    )[0]
    return unsettled == 0 and taken == held, int(taken), int(held), int(capacity)


def assert_invariant(mesh: Mesh, event_id: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        agreed, taken, held, capacity = settled_and_agreed(mesh, event_id)
        if agreed:
            assert 0 <= taken <= capacity
            return
        assert time.monotonic() < deadline, f"event {event_id}: seats_taken {taken} != held {held}"
        time.sleep(0.2)


def wait_for(check: Any, within: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def completed_soon(mesh: Mesh) -> Iterator[dict[str, Any]]:
    """An event with an attended and a cancelled booking, over within seconds.

    Created when the module starts, so the events completion job (every 30 s in the mesh) has
    finished it by the time the review test at the end of the module looks.
    """
    with httpx.Client(base_url=mesh.rest_url, timeout=30) as rest:
        host = signup(rest, mesh, role="ROLE_ORGANIZER")
        guest = signup(rest, mesh)
        dropout = person(mesh)
        event = create_event(
            rest,
            from_account(host),
            capacity=5,
            start=datetime.now(UTC) + timedelta(seconds=4),
            lasts=timedelta(seconds=1),
        )
        attended = book(rest, from_account(guest), event["id"])
        assert attended.status_code == 200, attended.text
        gone = book(rest, dropout, event["id"])
        assert gone.status_code == 200, gone.text
        cancelled = rest.post(f"/v1/bookings/{gone.json()['id']}:cancel", json={}, headers=dropout.headers)
        assert cancelled.status_code == 200, cancelled.text
        yield {
            "event": event,
            "host": from_account(host),
            "guest": from_account(guest),
            "dropout": dropout,
            "attended": attended.json()["id"],
            "gone": gone.json()["id"],
        }


async def test_300_users_race_for_100_seats(
    mesh: Mesh, rest: httpx.Client, client: httpx.AsyncClient, completed_soon: dict[str, Any]
) -> None:
    organizer = person(mesh, "organizer")
    for waitlist in (False, True):
        event = create_event(rest, organizer, capacity=100)
        guests = [person(mesh) for _ in range(300)]
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/bookings",
                    params={"requestId": str(uuid.uuid4())},
                    json=booking_body(event["id"], waitlist=waitlist),
                    headers=guest.headers,
                )
                for guest in guests
            )
        )
        ok = [response.json() for response in responses if response.status_code == 200]
        confirmed = [booking for booking in ok if booking["state"] == "CONFIRMED"]
        assert len(confirmed) == 100
        if waitlist:
            waiting = [booking for booking in ok if booking["state"] == "WAITLISTED"]
            assert len(waiting) == 200
            assert sorted(int(booking["waitlistPosition"]) for booking in waiting) == list(range(1, 201))
        else:
            refused = [response for response in responses if response.status_code != 200]
            assert len(refused) == 200
            assert {(response.status_code, reason(response)) for response in refused} == {(400, "SOLD_OUT")}
        assert_invariant(mesh, event["id"])
        seen = (await client.get(f"/v1/events/{event['id']}")).json()
        assert (seen["seatsTaken"], seen.get("seatsAvailable", 0)) == (100, 0)


async def test_one_request_id_ten_times_at_once_is_one_booking(
    mesh: Mesh, rest: httpx.Client, client: httpx.AsyncClient
) -> None:
    event = create_event(rest, person(mesh, "organizer"), capacity=10)
    guest = person(mesh)
    request_id = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/bookings",
                params={"requestId": request_id},
                json=booking_body(event["id"], seats=2),
                headers=guest.headers,
            )
            for _ in range(10)
        )
    )
    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["id"] for response in responses}) == 1
    listed = (await client.get("/v1/bookings", headers=guest.headers)).json()
    assert [booking["id"] for booking in listed["bookings"]] == [responses[0].json()["id"]]
    different = await client.post(
        "/v1/bookings",
        params={"requestId": request_id},
        json=booking_body(event["id"], seats=3),
        headers=guest.headers,
    )
    assert (different.status_code, reason(different)) == (400, "REQUEST_ID_REUSED")
    assert_invariant(mesh, event["id"])


async def test_two_events_at_one_start_time_booked_at_once_only_one_wins(
    mesh: Mesh, rest: httpx.Client, client: httpx.AsyncClient
) -> None:
    organizer = person(mesh, "organizer")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    first = create_event(rest, organizer, capacity=50, start=start)
    second = create_event(rest, organizer, capacity=50, start=start)
    for _ in range(10):
        guest = person(mesh)
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/bookings",
                    params={"requestId": str(uuid.uuid4())},
                    json=booking_body(event["id"]),
                    headers=guest.headers,
                )
                for event in (first, second)
            )
        )
        codes = sorted(response.status_code for response in responses)
        assert codes == [200, 400], [response.text for response in responses]
        loser = next(response for response in responses if response.status_code == 400)
        assert reason(loser) == "SCHEDULE_CONFLICT"
    assert_invariant(mesh, first["id"])
    assert_invariant(mesh, second["id"])


def test_cancel_on_a_sold_out_event_promotes_the_first_waitlisted_booking_that_fits(
    mesh: Mesh, rest: httpx.Client
) -> None:
    event = create_event(rest, person(mesh, "organizer"), capacity=3)
    leaving = person(mesh)
    mine = book(rest, leaving, event["id"], seats=2).json()
    book(rest, person(mesh), event["id"], seats=1)
    line = []
    for seats in (3, 2, 1):
        guest = person(mesh)
        response = rest.post(
            "/v1/bookings",
            params={"requestId": str(uuid.uuid4())},
            json=booking_body(event["id"], seats=seats, waitlist=True),
            headers=guest.headers,
        )
        assert response.json()["state"] == "WAITLISTED", response.text
        line.append((guest, response.json()))
    cancelled = rest.post(
        f"/v1/bookings/{mine['id']}:cancel", json={"reason": "ill"}, headers=leaving.headers
    )
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "CANCELLED")
    two_seats_guest, two_seats = line[1]

    def promoted() -> bool:
        found = rest.get(f"/v1/bookings/{two_seats['id']}", headers=two_seats_guest.headers).json()
        return found["state"] == "CONFIRMED"

    wait_for(promoted, what="the first waitlisted booking that fits is promoted")
    first_guest, first = line[0]
    still = rest.get(f"/v1/bookings/{first['id']}", headers=first_guest.headers).json()
    assert (still["state"], still["waitlistPosition"]) == ("WAITLISTED", 1)
    assert_invariant(mesh, event["id"])


def test_approval_and_who_may_touch_a_booking(mesh: Mesh, rest: httpx.Client) -> None:
    host = person(mesh, "organizer")
    event = create_event(rest, host, capacity=4, requiresApproval=True)
    guest, other, stranger = person(mesh), person(mesh), person(mesh)
    asking = book(rest, guest, event["id"], seats=2).json()
    declined = book(rest, other, event["id"], seats=2).json()
    assert asking["state"] == declined["state"] == "AWAITING_APPROVAL"

    pending = rest.get(
        "/v1/bookings", params={"as": "HOST", "state": "AWAITING_APPROVAL"}, headers=host.headers
    )
    assert {booking["id"] for booking in pending.json()["bookings"]} == {asking["id"], declined["id"]}
    assert pending.json()["bookings"][0]["eventTitle"] == "E2E concert"

    by_guest = rest.post(f"/v1/bookings/{asking['id']}:approve", json={}, headers=guest.headers)
    assert (by_guest.status_code, reason(by_guest)) == (403, "NOT_HOST")
    for path, body in (
        ("", None),
        (":cancel", {}),
        (":approve", {}),
        (":review", {"eventRating": 5, "hostRating": 5}),
    ):
        url = f"/v1/bookings/{asking['id']}{path}"
        response = (
            rest.get(url, headers=stranger.headers)
            if body is None
            else rest.post(url, json=body, headers=stranger.headers)
        )
        assert response.status_code == 404, (path, response.text)

    approved = rest.post(f"/v1/bookings/{asking['id']}:approve", json={}, headers=host.headers)
    assert approved.json()["state"] == "CONFIRMED"
    rejected = rest.post(
        f"/v1/bookings/{declined['id']}:reject", json={"reason": "sorry"}, headers=host.headers
    )
    assert rejected.json()["state"] == "REJECTED"
    assert_invariant(mesh, event["id"])
    assert rest.get(f"/v1/events/{event['id']}").json()["seatsTaken"] == 2


def test_events_down_means_503_within_the_deadline_and_no_seat_leaks(mesh: Mesh, rest: httpx.Client) -> None:
    event = create_event(rest, person(mesh, "organizer"), capacity=5)
    # This booking puts the event in the bookings service's cache.
    assert book(rest, person(mesh), event["id"]).status_code == 200
    guest = person(mesh)
    request_id = str(uuid.uuid4())
    mesh.stop_service("events")
    try:
        response = book(rest, guest, event["id"], seats=2, request_id=request_id)
        assert (response.status_code, reason(response)) == (503, "EVENTS_UNAVAILABLE")
        pending_id = metadata(response).get("booking_id")
    finally:
        mesh.start_service("events")
        mesh.wait_healthy(60)
    assert_invariant(mesh, event["id"], within=60)
    if pending_id:
        # The reconciler settled it meanwhile; the client's retry learns the outcome.
        again = book(rest, guest, event["id"], seats=2, request_id=request_id)
        assert (again.status_code, again.json()["id"], again.json()["state"]) == (
            200,
            pending_id,
            "CONFIRMED",
        )
    assert_invariant(mesh, event["id"])


def test_reviews_after_completion_update_the_event_and_the_hosts_profile(
    mesh: Mesh, rest: httpx.Client, completed_soon: dict[str, Any]
) -> None:
    event, host, guest = completed_soon["event"], completed_soon["host"], completed_soon["guest"]
    review = {"eventRating": 4, "hostRating": 5, "comment": "Great host"}
    url = f"/v1/bookings/{completed_soon['attended']}:review"

    def reviewed() -> httpx.Response | None:
        response = rest.post(url, json=review, headers=guest.headers)
        if response.status_code == 400 and reason(response) == "EVENT_NOT_COMPLETED":
            return None
        return response

    response = wait_for(reviewed, within=90, what="the event completes and reviews open")
    assert response.status_code == 200, response.text
    twice = rest.post(url, json=review, headers=guest.headers)
    assert (twice.status_code, reason(twice)) == (409, "ALREADY_REVIEWED")
    absent = rest.post(
        f"/v1/bookings/{completed_soon['gone']}:review",
        json=review,
        headers=completed_soon["dropout"].headers,
    )
    assert (absent.status_code, reason(absent)) == (400, "NOT_ATTENDED")
    rated = rest.post(
        f"/v1/bookings/{completed_soon['attended']}:rateGuest", json={"rating": 3}, headers=host.headers
    )
    assert rated.status_code == 200, rated.text

    def event_average() -> bool:
        found = rest.get(f"/v1/events/{event['id']}").json()
        return found.get("ratingCount") == 1 and found.get("ratingAverage") == 4

    wait_for(event_average, what="the event's average includes the review")
    reviews_url = f"/v1/events/{event['id']}/reviews"
    public = rest.get(reviews_url).json()["reviews"]
    # Anyone sees the review and its author's public name, not whose attendance (booking) it was.
    # (REST prints every field, so the ids come back empty rather than absent.)
    assert [
        (item["comment"], item.get("authorName"), item.get("bookingId") or "", item.get("authorId") or "")
        for item in public
    ] == [("Great host", "E2E Person", "", "")]
    own = rest.get(reviews_url, headers=guest.headers).json()["reviews"]
    assert [(item["bookingId"], item["authorId"]) for item in own] == [(completed_soon["attended"], guest.id)]

    def host_profile() -> bool:
        profile = rest.get(f"/v1/users/{host.id}").json()
        return profile.get("hostRating", {}).get("count") == 1

    wait_for(host_profile, what="the host's profile shows the rating")
    profile = rest.get(f"/v1/users/{host.id}").json()
    assert profile["hostRating"]["average"] == 5

    def guest_profile() -> bool:
        profile = rest.get(f"/v1/users/{guest.id}").json()
        return profile.get("guestRating", {}).get("count") == 1

    wait_for(guest_profile, what="the guest's profile shows the host's rating")
