"""Notifications through the whole mesh: real accounts, bookings and event changes through Envoy,
the SMTP sink's mail directory, the in-app inbox over REST and the live stream over gRPC."""

from __future__ import annotations

import email
import email.policy
import queue
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import grpc
import httpx
import pytest

from scripts.mesh import Mesh
from seatmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from tests.support.accounts import Account, mesh_token, signup

pytestmark = pytest.mark.e2e

# The acceptance bound for a booking's notification (in-app and email); the design takes well
# under a second (outbox NOTIFY -> stream -> consumer -> deliveries NOTIFY -> worker -> SMTP).
BOOKING_NOTICE_WITHIN = 5.0


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def mails_to(mesh: Mesh, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted((mesh.var / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message.get("To", "")):
            found.append(message)
    return found  # type: ignore[return-value]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""  # type: ignore[union-attr]


def inbox(rest: httpx.Client, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = rest.get("/v1/notifications", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return list(response.json().get("notifications", []))


def wait_for(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        time.sleep(0.1)


def create_event(rest: httpx.Client, host: Account, start: datetime, **fields: Any) -> dict[str, Any]:
    body = {
        "title": fields.pop("title", "Notified concert"),
        "startTime": iso(start),
        "endTime": iso(start + timedelta(hours=2)),
        "timeZone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "Hall",
        "capacity": 10,
        **fields,
    }
    response = rest.post(
        "/v1/events", params={"requestId": str(uuid.uuid4())}, json=body, headers=host.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def book(rest: httpx.Client, guest: Account, event_id: str) -> dict[str, Any]:
    response = rest.post(
        "/v1/bookings",
        params={"requestId": str(uuid.uuid4())},
        json={"eventId": event_id, "seats": 2},
        headers=guest.headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def kinds(notes: list[dict[str, Any]]) -> list[str]:
    return [note["kind"] for note in notes]


def test_bookings_approvals_and_event_changes_reach_the_right_people(mesh: Mesh, rest: httpx.Client) -> None:
    host = signup(rest, mesh, role="ROLE_ORGANIZER", display_name="Hedy Host")
    guest = signup(rest, mesh, display_name="Gus Guest")
    other = signup(rest, mesh, display_name="Olga Other")
    start = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    concert = create_event(rest, host, start)

    # A booking: in-app notification and email for the guest, within the acceptance bound.
    booked_at = time.monotonic()
    booking = book(rest, guest, concert["id"])
    assert booking["state"] == "CONFIRMED"
    note = wait_for(
        lambda: [n for n in inbox(rest, guest) if n["kind"] == "KIND_BOOKING_CONFIRMED"],
        BOOKING_NOTICE_WITHIN,
        "in-app confirmation",
    )[0]
    mail = wait_for(
        lambda: [m for m in mails_to(mesh, guest.email) if str(m["Subject"]).startswith("Booking confirmed")],
        max(0.5, BOOKING_NOTICE_WITHIN - (time.monotonic() - booked_at)),
        "confirmation email",
    )[0]
    assert note["link"].endswith(f"/v1/bookings/{booking['id']}")
    assert "Hi Gus Guest" in text_of(mail)
    assert "CET (Europe/Berlin)" in text_of(mail) or "CEST (Europe/Berlin)" in text_of(mail)

    # Only the owner sees and marks it.
    assert not [n for n in inbox(rest, other) if n["id"] == note["id"]]
    stolen = rest.post(f"/v1/notifications/{note['id']}:markRead", json={}, headers=other.headers)
    assert stolen.status_code == 404
    marked = rest.post(f"/v1/notifications/{note['id']}:markRead", json={}, headers=guest.headers)
    assert marked.status_code == 200, marked.text
    assert marked.json()["read"] is True
    assert note["id"] not in [n["id"] for n in inbox(rest, guest, unreadOnly="true")]

    # An event that needs approval: the host hears of the request.
    private = create_event(
        rest, host, start + timedelta(days=1), title="Private dinner", requiresApproval=True
    )
    request = book(rest, other, private["id"])
    assert request["state"] == "AWAITING_APPROVAL"
    wait_for(
        lambda: [n for n in inbox(rest, host) if n["kind"] == "KIND_APPROVAL_REQUESTED"],
        30,
        "approval request in the host's inbox",
    )
    wait_for(
        lambda: [
            m for m in mails_to(mesh, host.email) if str(m["Subject"]).startswith("New booking request")
        ],
        30,
        "approval request email to the host",
    )

    # An event change reaches every guest, with what changed, also live over gRPC through Envoy.
    book(rest, other, concert["id"])
    wait_for(lambda: "KIND_BOOKING_CONFIRMED" in kinds(inbox(rest, other)), 30, "second guest's confirmation")
    with grpc.insecure_channel(mesh.edge) as channel, ThreadPoolExecutor(1) as reader:
        stub = notifications_pb2_grpc.NotificationServiceStub(channel)
        stream = stub.WatchNotifications(
            notifications_pb2.WatchNotificationsRequest(),
            metadata=(("authorization", f"Bearer {guest.access_token}"),),
        )
        received: queue.Queue[notifications_pb2.Notification] = queue.Queue()
        reader.submit(lambda: [received.put(item) for item in stream])
        # Probe until the stream is live: the host writes to the attendees until one arrives.
        while True:
            probe = rest.post(
                "/v1/notifications:send",
                json={
                    "eventId": concert["id"],
                    "title": "Soundcheck",
                    "body": "Testing",
                    "channels": ["CHANNEL_IN_APP"],
                },
                headers=host.headers,
            )
            assert probe.status_code == 200, probe.text
            try:
                assert received.get(timeout=2).kind == notifications_pb2.KIND_ORGANIZER_MESSAGE
                break
            except queue.Empty:
                continue
        moved = start + timedelta(hours=2)
        response = rest.patch(
            f"/v1/events/{concert['id']}",
            params={"updateMask": "startTime,endTime,venue"},
            json={
                "startTime": iso(moved),
                "endTime": iso(moved + timedelta(hours=2)),
                "venue": "Open-air stage",
                "etag": concert["etag"],
            },
            headers=host.headers,
        )
        assert response.status_code == 200, response.text
        while (pushed := received.get(timeout=30)).kind == notifications_pb2.KIND_ORGANIZER_MESSAGE:
            pass
        stream.cancel()
    assert pushed.kind == notifications_pb2.KIND_EVENT_UPDATED
    assert "Venue: Hall → Open-air stage" in pushed.body
    for account in (guest, other):
        change = wait_for(
            lambda account=account: [n for n in inbox(rest, account) if n["kind"] == "KIND_EVENT_UPDATED"],
            30,
            "event change in each guest's inbox",
        )[0]
        assert "Venue: Hall → Open-air stage" in change["body"]
        assert "Time: " in change["body"]
        wait_for(
            lambda account=account: [
                m for m in mails_to(mesh, account.email) if str(m["Subject"]).startswith("Event changed")
            ],
            30,
            "event change email to each guest",
        )
    # The host is not a guest of their own event.
    assert "KIND_EVENT_UPDATED" not in kinds(inbox(rest, host))


def test_rest_surface_preferences_messages_and_admin_views(mesh: Mesh, rest: httpx.Client) -> None:
    organizer_id, admin_id = str(uuid.uuid4()), str(uuid.uuid4())
    organizer = {"Authorization": f"Bearer {mesh_token(mesh, organizer_id, 'organizer')}"}
    admin = {"Authorization": f"Bearer {mesh_token(mesh, admin_id, 'admin')}"}
    stranger = {"Authorization": f"Bearer {mesh_token(mesh, str(uuid.uuid4()), 'organizer')}"}
    start = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    response = rest.post(
        "/v1/events",
        params={"requestId": str(uuid.uuid4())},
        json={
            "title": "Nobody booked yet",
            "startTime": iso(start),
            "endTime": iso(start + timedelta(hours=1)),
            "timeZone": "Europe/Berlin",
            "city": "Berlin",
            "capacity": 5,
        },
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    event_id = response.json()["id"]

    # Ownership of an event nobody booked yet is checked with the events service.
    sent = rest.post(
        "/v1/notifications:send",
        json={"eventId": event_id, "title": "Hello", "body": "Soon!"},
        headers=organizer,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json().get("recipientCount", 0) == 0
    refused = rest.post(
        "/v1/notifications:send", json={"eventId": event_id, "title": "Hi", "body": "x"}, headers=stranger
    )
    assert refused.status_code == 403

    preferences = rest.get("/v1/notifications/preferences", headers=organizer)
    assert preferences.status_code == 200, preferences.text
    assert {"kind": "KIND_WELCOME", "inApp": True, "email": True, "sms": False} in preferences.json()["kinds"]
    patched = rest.patch(
        "/v1/notifications/preferences",
        json={"kinds": [{"kind": "KIND_EVENT_UPDATED", "inApp": True, "email": False, "sms": True}]},
        headers=organizer,
    )
    assert patched.status_code == 200, patched.text
    assert {"kind": "KIND_EVENT_UPDATED", "inApp": True, "email": False, "sms": True} in patched.json()[
        "kinds"
    ]

    for path in ("/v1/notifications/deliveries", "/v1/notifications/deadLetters"):
        assert rest.get(path, headers=organizer).status_code == 403
        listed = rest.get(path, params={"pageSize": 5}, headers=admin)
        assert listed.status_code == 200, listed.text
    failed = rest.get("/v1/notifications/deliveries", params={"state": "FAILED"}, headers=admin)
    assert failed.status_code == 200, failed.text
    assert all(item["state"] == "FAILED" for item in failed.json().get("deliveries", []))
