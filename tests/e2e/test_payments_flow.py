"""Paid events through the real Envoy, on a mesh whose payments use the stripe provider against the
fake Stripe (scripts/fake_stripe.py), started as `SEATMESH_PAYMENTS_PROVIDER=stripe make run` starts
it: Stripe's signed webhooks come back through the edge's REST route as raw bytes.

The acceptance of paid events: an organizer publishes a paid event; a guest books and pays at the
checkout; another guest's hold expires and their seats go to the waitlist, whose guest gets a hold
and pays; the expired guest's payment arrives late and is refunded; the organizer cancels the
event and everyone is refunded; the sales report shows it all and matches the payments. After each
test the money invariants are checked in the databases.
"""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import psycopg
import pytest

from scripts.mesh import Mesh
from services.runtime.migrations import libpq_conninfo
from tests.support.accounts import mesh_token, signup
from tests.support.money import money_invariant_violations, wait_money_settled

pytestmark = pytest.mark.e2e


@pytest.fixture
def rest(stripe_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stripe_mesh.rest_url, timeout=20) as client:
        yield client


@dataclass(frozen=True)
class Person:
    id: str
    headers: dict[str, str]


def person(mesh: Mesh, role: str = "participant") -> Person:
    user_id = str(uuid.uuid4())
    return Person(user_id, {"Authorization": f"Bearer {mesh_token(mesh, user_id, role)}"})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.2)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def paid_event(
    rest: httpx.Client, organizer: Person, *, capacity: int, starts_in: timedelta
) -> dict[str, Any]:
    start = datetime.now(UTC) + starts_in
    return ok(
        rest.post(
            "/v1/events",
            params={"requestId": str(uuid.uuid4())},
            headers=organizer.headers,
            json={
                "title": "Paid jazz",
                "startTime": iso(start),
                "endTime": iso(start + timedelta(hours=2)),
                "timeZone": "Europe/Berlin",
                "city": "Berlin",
                "capacity": capacity,
                "maxSeatsPerBooking": 1,
                "price": {"currencyCode": "EUR", "units": "25"},
                "refundPolicy": {"fullRefundUntilHoursBeforeStart": 24},
            },
        )
    )


def book(rest: httpx.Client, guest: Person, event_id: str, *, waitlist: bool = False) -> dict[str, Any]:
    return ok(
        rest.post(
            "/v1/bookings",
            params={"requestId": str(uuid.uuid4())},
            headers=guest.headers,
            json={"eventId": event_id, "seats": 1, "joinWaitlist": waitlist},
        )
    )


def booking(rest: httpx.Client, guest: Person, booking_id: str) -> dict[str, Any]:
    return ok(rest.get(f"/v1/bookings/{booking_id}", headers=guest.headers))


def booking_in(rest: httpx.Client, guest: Person, booking_id: str, state: str) -> dict[str, Any]:
    return dict(
        until(
            lambda: (found := booking(rest, guest, booking_id))["state"] == state and found,
            f"booking {booking_id} {state}",
        )
    )


def payment(rest: httpx.Client, who: Person, payment_id: str) -> dict[str, Any]:
    return ok(rest.get(f"/v1/payments/{payment_id}", headers=who.headers))


def checkout(rest: httpx.Client, guest: Person, booking_id: str) -> dict[str, Any]:
    """The open payment of the booking, once bookings opened it."""
    return dict(
        until(
            lambda: (
                (
                    found := rest.post(
                        "/v1/payments:checkout", headers=guest.headers, json={"bookingId": booking_id}
                    )
                ).status_code
                == 200
                and found.json()
            ),
            f"a checkout for booking {booking_id}",
        )
    )


def fake_events(mesh: Mesh, session_id: str) -> list[dict[str, Any]]:
    assert mesh.fake_stripe_url is not None
    listed = httpx.get(f"{mesh.fake_stripe_url}/_test/events", timeout=10).json()["data"]
    return [event for event in listed if event["session"] == session_id]


def emailed(mesh: Mesh, address: str, subject: str) -> list[str]:
    """The plain text of every email to `address` with this subject, as the SMTP sink stored it."""
    found = []
    for path in sorted((mesh.var / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message.get("To", "")) and message.get("Subject") == subject:
            body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
            found.append(body.get_content() if body is not None else "")
    return found


def notified(rest: httpx.Client, who: Person, kind: str) -> bool:
    """Whether `who` has an in-app notification of this kind."""
    listed = ok(rest.get("/v1/notifications", params={"pageSize": 100}, headers=who.headers))
    return any(entry["kind"] == kind for entry in listed.get("notifications", []))


def settle_money(mesh: Mesh, event_ids: list[str]) -> None:
    wait_money_settled(
        mesh.service_database_url("bookings"), mesh.service_database_url("payments"), event_ids=event_ids
    )


def test_paid_event_from_checkout_to_cancellation(stripe_mesh: Mesh, rest: httpx.Client) -> None:
    mesh = stripe_mesh
    organizer = person(mesh, "organizer")
    # Ada signs up the real way: her receipt goes to her (verified) email address.
    ada_account = signup(rest, mesh)
    ada, bob, cleo = Person(ada_account.id, ada_account.headers), person(mesh), person(mesh)
    event = paid_event(rest, organizer, capacity=2, starts_in=timedelta(days=10))
    event_id = event["id"]

    # Ada books and pays at Stripe's checkout; Stripe's webhook confirms her booking.
    ada_booking = book(rest, ada, event_id)
    assert ada_booking["state"] == "AWAITING_PAYMENT"
    ada_payment = checkout(rest, ada, ada_booking["id"])
    assert ada_payment["amount"] == {"currencyCode": "EUR", "units": "25", "nanos": 0}
    assert ada_payment["checkoutUrl"].startswith(f"{mesh.fake_stripe_url}/pay/")
    assert httpx.post(ada_payment["checkoutUrl"] + "/complete", timeout=10).status_code == 303
    booking_in(rest, ada, ada_booking["id"], "CONFIRMED")
    assert payment(rest, ada, ada_payment["id"])["state"] == "SUCCEEDED"

    # Stripe delivers the same webhook again: acknowledged, nothing changes.
    (completed,) = fake_events(mesh, ada_payment["checkoutUrl"].rsplit("/", 1)[1])
    again = httpx.post(f"{mesh.fake_stripe_url}/_test/events/{completed['id']}/deliver", timeout=10).json()
    assert again["status"] == 200
    assert payment(rest, ada, ada_payment["id"])["refunds"] == []

    # Bob takes the last seat; Cleo waits.
    bob_booking = book(rest, bob, event_id)
    assert bob_booking["state"] == "AWAITING_PAYMENT"
    bob_payment = checkout(rest, bob, bob_booking["id"])
    cleo_booking = book(rest, cleo, event_id, waitlist=True)
    assert cleo_booking["state"] == "WAITLISTED"

    # Bob pays just before his hold ends, but Stripe's webhook is late; his hold ends first.
    assert httpx.post(bob_payment["checkoutUrl"] + "/complete?hold=1", timeout=10).status_code == 303
    move_hold_end_to_now(mesh, bob_booking["id"])
    booking_in(rest, bob, bob_booking["id"], "EXPIRED")
    # His seat goes to Cleo, who gets a hold and a checkout of her own, and pays.
    booking_in(rest, cleo, cleo_booking["id"], "AWAITING_PAYMENT")
    cleo_payment = checkout(rest, cleo, cleo_booking["id"])
    assert httpx.post(cleo_payment["checkoutUrl"] + "/complete", timeout=10).status_code == 303
    booking_in(rest, cleo, cleo_booking["id"], "CONFIRMED")

    # Bob's payment arrives: the seats are gone, so it is refunded in full, never kept.
    (late,) = fake_events(mesh, bob_payment["checkoutUrl"].rsplit("/", 1)[1])
    httpx.post(f"{mesh.fake_stripe_url}/_test/events/{late['id']}/deliver", timeout=10)
    refunded = until(
        lambda: (
            (found := payment(rest, bob, bob_payment["id"]))["refunded"] == found["captured"]
            and found["refunds"]
            and found["refunds"][0]["state"] == "SUCCEEDED"
            and found
        ),
        "bob's late payment refunded",
    )
    assert refunded["captured"]["units"] == "25"
    assert refunded["refunds"][0]["initiatedBy"] == "PAYMENT_REFUSED"
    assert booking(rest, bob, bob_booking["id"])["state"] == "EXPIRED"
    settle_money(mesh, [event_id])

    # The organizer cancels the event: everyone who paid gets everything back.
    ok(rest.post(f"/v1/events/{event_id}:cancel", headers=organizer.headers, json={"reason": "storm"}))
    for guest, paid in ((ada, ada_payment), (cleo, cleo_payment)):
        final = until(
            lambda guest=guest, paid=paid: (
                (found := payment(rest, guest, paid["id"]))["refunded"] == found["captured"]
                and found["refunds"][0]["state"] == "SUCCEEDED"
                and found
            ),
            "a refund of the cancelled event",
        )
        assert final["refunds"][0]["initiatedBy"] == "EVENT_CANCELLATION"
    settle_money(mesh, [event_id])

    # The sales report shows it all and matches the payments.
    report = until(
        lambda: (
            (
                found := ok(
                    rest.get("/v1/payments/report", params={"eventId": event_id}, headers=organizer.headers)
                )
            )["events"][0]["eventState"]
            == "CANCELLED"
            and found
        ),
        "the report saw the cancellation",
    )
    (sales,) = report["events"]
    assert sales["captured"] == {"currencyCode": "EUR", "units": "75", "nanos": 0}
    assert sales["refunded"] == {"currencyCode": "EUR", "units": "75", "nanos": 0}
    assert sales["revenue"] == {"currencyCode": "EUR", "units": "0", "nanos": 0}
    assert sales["refundCount"] == 3
    assert sales["seatsSold"] == 0
    assert sum(day["bookings"] for day in sales["days"]) == 2
    reported = {sales["eventId"]: ("EUR", int(sales["revenue"]["units"]) * 100)}
    assert (
        money_invariant_violations(
            mesh.service_database_url("bookings"),
            mesh.service_database_url("payments"),
            event_ids=[event_id],
            reported_revenue=reported,
        )
        == []
    )
    # Ada's receipt reached her mailbox; every guest who got money back (Bob's late payment, Ada
    # and Cleo when the event was cancelled) was told so.
    assert until(
        lambda: (
            any(
                "we received your payment of 25.00 EUR for 1 seat at Paid jazz" in text
                for text in emailed(mesh, ada_account.email, "Receipt: Paid jazz")
            )
            and all(notified(rest, guest, "KIND_PAYMENT_REFUNDED") for guest in (ada, bob, cleo))
        ),
        "the receipt emailed and the refund notices",
    )


def test_a_guest_cancelling_in_time_is_refunded_by_the_policy(stripe_mesh: Mesh, rest: httpx.Client) -> None:
    mesh = stripe_mesh
    organizer, guest = person(mesh, "organizer"), person(mesh)
    event = paid_event(rest, organizer, capacity=5, starts_in=timedelta(days=3))
    booked = book(rest, guest, event["id"])
    paying = checkout(rest, guest, booked["id"])
    httpx.post(paying["checkoutUrl"] + "/complete", timeout=10)
    booking_in(rest, guest, booked["id"], "CONFIRMED")
    assert paying["fullRefundDeadline"] < event["startTime"]
    ok(rest.post(f"/v1/bookings/{booked['id']}:cancel", headers=guest.headers, json={}))
    refunded = until(
        lambda: (
            (found := payment(rest, guest, paying["id"]))["refunds"]
            and found["refunds"][0]["state"] == "SUCCEEDED"
            and found
        ),
        "the guest's refund",
    )
    assert refunded["refunds"][0]["initiatedBy"] == "GUEST_CANCELLATION"
    assert refunded["refunded"] == refunded["captured"]
    settle_money(mesh, [event["id"]])


def test_the_webhook_route_needs_stripes_signature_not_a_token(stripe_mesh: Mesh, rest: httpx.Client) -> None:
    forged = rest.post(
        "/v1/payments/webhooks/stripe",
        content=b'{"id": "evt_forged", "type": "checkout.session.completed"}',
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    )
    assert forged.status_code == 400
    assert forged.json()["details"][0]["reason"] == "WEBHOOK_SIGNATURE_INVALID"
    # OpenCheckout is internal: the edge refuses it, gRPC or REST alike.
    method = "/seatmesh.payments.v1.PaymentService/OpenCheckout"
    with grpc.insecure_channel(stripe_mesh.edge) as channel:
        call = channel.unary_unary(method, request_serializer=lambda m: b"", response_deserializer=bytes)
        with pytest.raises(grpc.RpcError) as raised:
            call(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rest.post(method, json={}).status_code == 403


def move_hold_end_to_now(mesh: Mesh, booking_id: str) -> None:
    """Time travel instead of waiting out the shortest hold (2 minutes): the hold of this booking
    ends now, and bookings' reconciler expires it as it would have then."""
    with psycopg.connect(
        libpq_conninfo(mesh.service_database_url("bookings")), autocommit=True
    ) as connection:
        changed = connection.execute(
            "UPDATE bookings SET hold_expire_time = now() WHERE id = %s AND state = 'AWAITING_PAYMENT'",
            (uuid.UUID(booking_id),),
        ).rowcount
    assert changed == 1
