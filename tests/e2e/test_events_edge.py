"""Events through the real Envoy: REST as clients see it, with real accounts and tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import grpc
import httpx
import pytest

from scripts.mesh import Mesh
from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from tests.support.accounts import Account, mesh_token, signup

pytestmark = pytest.mark.e2e


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _event_body(**overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    body = {
        "title": "Open-air cinema",
        "description": "Bring a blanket",
        "startTime": _iso(start),
        "endTime": _iso(start + timedelta(hours=2)),
        "timeZone": "Europe/Lisbon",
        "city": "Lisbon",
        "venue": "Miradouro",
        "capacity": 50,
        "tags": ["Film", "outdoor"],
    }
    body.update(overrides)
    return body


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _organizer_token(mesh: Mesh) -> str:
    return mesh_token(mesh, str(uuid.uuid4()), "organizer")


def _query(params: Any) -> str:
    # Spaces as %20: Envoy's transcoder does not read "+" as a space (query_param_unescape_plus
    # is off), and httpx writes "+".
    return urlencode(params, quote_via=quote)


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail.get("reason", ""))
    return ""


def _fields(response: httpx.Response) -> list[str]:
    fields: list[str] = []
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.BadRequest"):
            fields.extend(violation["field"] for violation in detail.get("fieldViolations", []))
    return fields


def _create(rest: httpx.Client, token: str, **overrides: Any) -> dict[str, Any]:
    response = rest.post(
        "/v1/events",
        params={"requestId": str(uuid.uuid4())},
        json=_event_body(**overrides),
        headers=_headers(token),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def organizer(rest_module: httpx.Client, mesh: Mesh) -> Account:
    return signup(rest_module, mesh, role="ROLE_ORGANIZER")


@pytest.fixture(scope="module")
def rest_module(mesh: Mesh) -> Any:
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as client:
        yield client


def test_a_signed_up_organizer_creates_and_anyone_reads(rest: httpx.Client, organizer: Account) -> None:
    request_id = str(uuid.uuid4())
    body = _event_body()
    response = rest.post("/v1/events", params={"requestId": request_id}, json=body, headers=organizer.headers)
    assert response.status_code == 200, response.text
    event = response.json()
    assert event["organizerId"] == organizer.id
    assert event["tags"] == ["film", "outdoor"]
    assert event["state"] == "SCHEDULED"
    assert event["seatsAvailable"] == 50
    assert event["maxSeatsPerBooking"] == 10
    assert "grpc-status" not in response.headers
    # A retry with the same request id is the same event.
    again = rest.post("/v1/events", params={"requestId": request_id}, json=body, headers=organizer.headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == event["id"]
    # Anonymous readers see it.
    fetched = rest.get(f"/v1/events/{event['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "Open-air cinema"


def test_participants_cannot_create_events(rest: httpx.Client, mesh: Mesh) -> None:
    token = mesh_token(mesh, str(uuid.uuid4()), "participant")
    response = rest.post("/v1/events", json=_event_body(), headers=_headers(token))
    assert response.status_code == 403
    anonymous = rest.post("/v1/events", json=_event_body())
    assert anonymous.status_code == 401


def test_invalid_fields_are_a_400_naming_each(rest: httpx.Client, mesh: Mesh) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    response = rest.post(
        "/v1/events",
        json=_event_body(
            title="",
            startTime=_iso(past),
            endTime=_iso(past - timedelta(hours=1)),
            timeZone="Not/AZone",
            capacity=0,
        ),
        headers=_headers(_organizer_token(mesh)),
    )
    assert response.status_code == 400
    assert sorted(_fields(response)) == [
        "event.capacity",
        "event.end_time",
        "event.start_time",
        "event.time_zone",
        "event.title",
    ]


def test_a_reservation_shows_in_get_through_envoy_immediately(rest: httpx.Client, mesh: Mesh) -> None:
    event = _create(rest, _organizer_token(mesh), capacity=30)
    for _ in range(3):  # cached by now
        assert rest.get(f"/v1/events/{event['id']}").json().get("seatsTaken", 0) == 0
    service_token = mesh_token(mesh, "service:e2e", "service")
    with grpc.insecure_channel(mesh.service_address("events")) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        for seats, taken in ((4, 4), (2, 6)):
            reply = stub.ReserveSeats(
                events_pb2.ReserveSeatsRequest(
                    event_id=event["id"], seats=seats, reservation_id=str(uuid.uuid4())
                ),
                metadata=(("authorization", "Bearer " + service_token),),
                timeout=10,
            )
            assert reply.event.seats_taken == taken
            fetched = rest.get(f"/v1/events/{event['id']}").json()
            assert fetched["seatsTaken"] == taken
            assert fetched["seatsAvailable"] == 30 - taken
            listed = rest.get("/v1/events", params={"organizerId": event["organizerId"]}).json()
            assert [e.get("seatsTaken", 0) for e in listed["events"]] == [taken]


def test_inventory_rpcs_are_refused_at_the_edge_even_with_a_service_token(mesh: Mesh) -> None:
    with grpc.insecure_channel(mesh.edge) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ReleaseSeats(
                events_pb2.ReleaseSeatsRequest(reservation_id=str(uuid.uuid4())),
                metadata=(("authorization", "Bearer " + mesh_token(mesh, "service:e2e", "service")),),
                timeout=5,
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_only_the_owner_may_update_delete_or_cancel(rest: httpx.Client, mesh: Mesh) -> None:
    owner = _organizer_token(mesh)
    event = _create(rest, owner)
    stranger = _headers(_organizer_token(mesh))
    patch = rest.patch(
        f"/v1/events/{event['id']}", params={"updateMask": "title"}, json={"title": "Mine"}, headers=stranger
    )
    assert patch.status_code == 403
    assert _reason(patch) == "NOT_EVENT_OWNER"
    assert rest.delete(f"/v1/events/{event['id']}", headers=stranger).status_code == 403
    assert (
        rest.post(f"/v1/events/{event['id']}:cancel", json={"reason": "x"}, headers=stranger).status_code
        == 403
    )
    assert rest.get(f"/v1/events/{event['id']}").json()["state"] == "SCHEDULED"


def test_update_with_a_stale_etag_is_a_409(rest: httpx.Client, mesh: Mesh) -> None:
    owner = _headers(_organizer_token(mesh))
    event = _create(rest, owner["Authorization"].removeprefix("Bearer "))
    first = rest.patch(
        f"/v1/events/{event['id']}",
        params={"updateMask": "title,venue"},
        json={"title": "Renamed", "venue": "Elsewhere", "etag": event["etag"]},
        headers=owner,
    )
    assert first.status_code == 200, first.text
    assert (first.json()["title"], first.json()["venue"]) == ("Renamed", "Elsewhere")
    stale = rest.patch(
        f"/v1/events/{event['id']}",
        params={"updateMask": "title"},
        json={"title": "Lost update", "etag": event["etag"]},
        headers=owner,
    )
    assert stale.status_code == 409
    assert _reason(stale) == "ETAG_MISMATCH"
    assert rest.get(f"/v1/events/{event['id']}").json()["title"] == "Renamed"


def test_cancel_and_delete(rest: httpx.Client, mesh: Mesh) -> None:
    token = _organizer_token(mesh)
    doomed = _create(rest, token)
    response = rest.delete(f"/v1/events/{doomed['id']}", headers=_headers(token))
    assert response.status_code == 200
    assert rest.get(f"/v1/events/{doomed['id']}").status_code == 404
    called_off = _create(rest, token)
    response = rest.post(
        f"/v1/events/{called_off['id']}:cancel", json={"reason": "Storm"}, headers=_headers(token)
    )
    assert response.status_code == 200
    assert response.json()["state"] == "CANCELLED"
    assert rest.get(f"/v1/events/{called_off['id']}").json()["state"] == "CANCELLED"


def test_listing_filters_pages_and_tags(rest: httpx.Client, mesh: Mesh) -> None:
    token = _organizer_token(mesh)
    city = f"Porto {uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=9)
    created = [
        _create(
            rest,
            token,
            city=city,
            startTime=_iso(start + timedelta(hours=i)),
            endTime=_iso(start + timedelta(hours=i + 1)),
            tags=[f"t{i % 2}"],
            title=f"Fado night {i}",
        )
        for i in range(5)
    ]
    seen: list[str] = []
    token_param = ""
    while True:
        params: dict[str, Any] = {"city": city.lower(), "pageSize": 2, "orderBy": "start_time desc"}
        if token_param:
            params["pageToken"] = token_param
        page = rest.get("/v1/events?" + _query(params))
        assert page.status_code == 200, page.text
        seen.extend(e["id"] for e in page.json().get("events", []))
        token_param = page.json().get("nextPageToken", "")
        if not token_param:
            break
    assert seen == [e["id"] for e in reversed(created)]
    tagged = rest.get("/v1/events?" + _query([("city", city), ("tags", "t1"), ("tags", "nothing")]))
    assert {e["id"] for e in tagged.json()["events"]} == {created[1]["id"], created[3]["id"]}
    found = rest.get("/v1/events?" + _query({"city": city, "query": "fado night"})).json()["events"]
    assert len(found) == 5
    tags = rest.get("/v1/tags", params={"pageSize": 1000})
    assert tags.status_code == 200
    counts = {tag["name"]: tag.get("eventCount", 0) for tag in tags.json()["tags"]}
    assert counts["t0"] >= 3
    assert counts["t1"] >= 2
    bad = rest.get("/v1/events", params={"orderBy": "price"})
    assert bad.status_code == 400
    assert _fields(bad) == ["order_by"]


def test_reviews_of_an_event_are_public(rest: httpx.Client, mesh: Mesh) -> None:
    event = _create(rest, _organizer_token(mesh))
    response = rest.get(f"/v1/events/{event['id']}/reviews")
    assert response.status_code == 200
    assert response.json().get("reviews", []) == []


def test_availability_streams_through_envoy(rest: httpx.Client, mesh: Mesh) -> None:
    event = _create(rest, _organizer_token(mesh), capacity=8)
    service_token = mesh_token(mesh, "service:e2e", "service")
    with (
        grpc.insecure_channel(mesh.edge) as edge,
        grpc.insecure_channel(mesh.service_address("events")) as direct,
    ):
        stream = events_pb2_grpc.EventServiceStub(edge).WatchAvailability(
            events_pb2.WatchAvailabilityRequest(event_id=event["id"]), timeout=30
        )
        try:
            first = next(stream)
            assert first.seats_available == 8
            events_pb2_grpc.EventServiceStub(direct).ReserveSeats(
                events_pb2.ReserveSeatsRequest(
                    event_id=event["id"], seats=3, reservation_id=str(uuid.uuid4())
                ),
                metadata=(("authorization", "Bearer " + service_token),),
                timeout=10,
            )
            assert next(stream).seats_available == 5
        finally:
            stream.cancel()
