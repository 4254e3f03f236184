"""Paid bookings through the real Envoy (REST + JWT) with every service of the mesh running, the
payments service on its default provider (manual: the organizer marks the money as arrived).

A guest's seats are held AWAITING_PAYMENT and the payment confirms them; an unpaid hold expires and
its seats go to the waitlist, whose guest gets a hold of their own; the expired guest's late payment
finds the seat taken and is refunded in full. The seat invariant (AWAITING_PAYMENT holds seats) is
checked after each step.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest

from scripts.mesh import Mesh
from services.runtime.migrations import libpq_conninfo
from tests.e2e.test_bookings_flow import Person, assert_invariant, create_event, person, wait_for

pytestmark = pytest.mark.e2e

PRICE = {"currencyCode": "EUR", "units": "12", "nanos": 500000000}


def book(
    rest: httpx.Client, guest: Person, event_id: str, seats: int = 1, waitlist: bool = False
) -> dict[str, Any]:
    response = rest.post(
        "/v1/bookings",
        params={"requestId": str(uuid.uuid4())},
        json={"eventId": event_id, "seats": seats, "joinWaitlist": waitlist},
        headers=guest.headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def booking(rest: httpx.Client, guest: Person, booking_id: str) -> dict[str, Any]:
    response = rest.get(f"/v1/bookings/{booking_id}", headers=guest.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def mark_paid(rest: httpx.Client, organizer: Person, payment_id: str) -> None:
    response = rest.post(f"/v1/payments/{payment_id}:markPaid", json={}, headers=organizer.headers)
    assert response.status_code == 200, response.text


def payment(rest: httpx.Client, organizer: Person, payment_id: str) -> dict[str, Any]:
    response = rest.get(f"/v1/payments/{payment_id}", headers=organizer.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def expire_hold(mesh: Mesh, booking_id: str) -> None:
    with psycopg.connect(
        libpq_conninfo(mesh.service_database_url("bookings")), autocommit=True
    ) as connection:
        connection.execute(
            "UPDATE bookings SET hold_expire_time = now() - interval '1 second' WHERE id = %s",
            (uuid.UUID(booking_id),),
        )


def test_a_paid_event_is_published_with_its_price_policy_and_hold(mesh: Mesh, rest: httpx.Client) -> None:
    organizer = person(mesh, "organizer")
    event = create_event(
        rest,
        organizer,
        capacity=5,
        price=PRICE,
        refundPolicy={"fullRefundUntilHoursBeforeStart": 48},
        paymentHold="600s",
    )
    fetched = rest.get(f"/v1/events/{event['id']}").json()
    assert fetched["price"] == PRICE
    assert fetched["refundPolicy"] == {"fullRefundUntilHoursBeforeStart": 48}
    assert fetched["paymentHold"] == "600s"
    bad = rest.post(
        "/v1/events",
        json={
            **{key: fetched[key] for key in ("title", "startTime", "endTime", "timeZone", "city")},
            "capacity": 5,
            "price": {"currencyCode": "EURO", "units": "5"},
        },
        headers=organizer.headers,
    )
    assert bad.status_code == 400, bad.text
    assert "event.price.currency_code" in bad.text


def test_a_hold_is_paid_another_expires_to_the_waitlist_and_its_late_payment_is_refunded(
    mesh: Mesh, rest: httpx.Client
) -> None:
    organizer = person(mesh, "organizer")
    event = create_event(rest, organizer, capacity=3, price=PRICE)
    payer, late, waiting = person(mesh), person(mesh), person(mesh)

    paid = book(rest, payer, event["id"], seats=2)
    assert paid["state"] == "AWAITING_PAYMENT"
    assert paid["amount"] == {"currencyCode": "EUR", "units": "25", "nanos": 0}
    assert paid["paymentId"]
    assert paid["holdExpireTime"]
    assert_invariant(mesh, event["id"])
    mark_paid(rest, organizer, paid["paymentId"])
    wait_for(lambda: booking(rest, payer, paid["id"])["state"] == "CONFIRMED", what="paid booking confirmed")

    expiring = book(rest, late, event["id"])
    assert expiring["state"] == "AWAITING_PAYMENT"
    queued = book(rest, waiting, event["id"], waitlist=True)
    assert (queued["state"], queued["waitlistPosition"]) == ("WAITLISTED", 1)
    assert_invariant(mesh, event["id"])

    expire_hold(mesh, expiring["id"])
    wait_for(lambda: booking(rest, late, expiring["id"])["state"] == "EXPIRED", what="the hold expired")
    promoted = wait_for(
        lambda: (
            (found := booking(rest, waiting, queued["id"]))["state"] == "AWAITING_PAYMENT"
            and found.get("paymentId")
            and found
        ),
        what="the waitlisted guest holds the seat with a checkout of their own",
    )
    assert promoted["paymentId"] != expiring["paymentId"]
    assert_invariant(mesh, event["id"])

    # The money for the expired hold arrives after all: the seat is someone else's now.
    mark_paid(rest, organizer, expiring["paymentId"])

    def refunded() -> bool:
        found = payment(rest, organizer, expiring["paymentId"])
        return found["state"] == "SUCCEEDED" and found.get("refunded") == found.get("captured")

    wait_for(refunded, what="the late payment refunded in full")
    assert booking(rest, late, expiring["id"])["state"] == "EXPIRED"
    assert_invariant(mesh, event["id"])
