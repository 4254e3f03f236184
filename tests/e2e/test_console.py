"""The web console (issue 16) in a real browser, against the real mesh through Envoy.

A person signs up with the code from the SMTP sink, finds an event by filter, books, watches the
seat count drop live while another buyer (an API client) books, cancels and signs out everywhere;
an organizer creates an event, approves a request and meets an edit conflict; an admin changes a
role and the person signs in again; a Russian speaker books on a phone-sized screen. Paid events:
an organizer sells one for bank transfer, marks a guest's transfer paid and an admin refunds it
(the main mesh's manual payments); on the mesh whose payments take Stripe's way (the fake Stripe),
a participant pays at the checkout page and comes back to a confirmed booking, and an organizer
reads the sales report with its chart and refunds part of a payment. Every main page is
photographed under var/screenshots/.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Locator, expect, sync_playwright

from scripts.mesh import Mesh
from tests.e2e.console import (
    PHONE,
    book_and_pay,
    create_admin,
    create_event,
    launch,
    open_page,
    screenshot,
    sign_in,
    until,
)
from tests.support.accounts import PASSWORD, signup, verification_code

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


def test_the_console_is_served_by_envoy_with_the_api_beside_it(mesh: Mesh, rest: httpx.Client) -> None:
    index = rest.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.headers["cache-control"] == "no-cache"
    # Fixed asset names (stable Envoy routes), a content fingerprint in the query for caches.
    script = re.search(r'src="(/assets/console\.js\?v=[0-9a-f]{8})"', index.text)
    assert script, index.text
    asset = rest.get(script.group(1))
    assert asset.status_code == 200
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "immutable" in asset.headers["cache-control"]
    # Any page path is the app (links can be shared and reloaded); the API's paths are not.
    assert rest.get(f"/events/{uuid.uuid4()}").text == index.text
    assert rest.get("/admin/users").text == index.text
    for path in ["/v1/nothing-here", "/assets/console-1234abcd.js"]:
        missing = rest.get(path)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"] == "application/json", path
    assert rest.get("/v1/tags").headers["content-type"] == "application/json"


def test_a_participant_signs_up_finds_books_sees_seats_live_cancels_and_signs_out_everywhere(
    mesh: Mesh, rest: httpx.Client, browser: Browser
) -> None:
    organizer = signup(rest, mesh, role="ROLE_ORGANIZER", display_name="Olga Organizer")
    city = f"Testville {uuid.uuid4().hex[:6]}"
    tag = f"t{uuid.uuid4().hex[:8]}"
    wanted = create_event(rest, organizer, title="Jazz night", city=city, tags=[tag, "jazz"], capacity=10)
    create_event(rest, organizer, title="Poetry slam", city=city, tags=["poetry"], capacity=10)
    address = f"ada-{uuid.uuid4().hex[:10]}@example.com"

    with open_page(browser, mesh) as page:
        page.goto("/")
        expect(page.get_by_role("heading", name="Find an event")).to_be_visible()
        page.get_by_role("link", name="Sign up").click()
        page.get_by_label("Email").fill(address)
        page.get_by_label("Password").fill("short")
        page.get_by_label("Name shown to others").fill("Ada Participant")
        screenshot(page, "signup")
        started = datetime.now().timestamp() - 1
        page.get_by_role("button", name="Create account").click()
        # The service refuses the password; the console says why, next to the field.
        expect(page.get_by_role("alert")).to_contain_text("Please correct the fields below.")
        expect(page.locator("#field-password-error")).to_contain_text("10 characters")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
        page.get_by_label("Code").fill(verification_code(mesh, address, newer_than=started))
        page.get_by_role("button", name="Confirm").click()
        # Verified and signed in straight away (the password never left this tab's memory).
        expect(page.get_by_role("link", name="Ada Participant")).to_be_visible()

        page.get_by_label("City").fill(city)
        page.get_by_label(tag).check()
        page.get_by_label("Only with free seats").check()
        page.get_by_role("button", name="Search").click()
        results = page.locator(".event-card")
        expect(results).to_have_count(1)
        expect(results).to_contain_text("Jazz night")
        expect(results).to_contain_text("your time (Asia/Tokyo)")
        screenshot(page, "events")

        results.get_by_role("link", name="Jazz night").click()
        expect(page.get_by_role("heading", name="Jazz night")).to_be_visible()
        seats = page.get_by_test_id("seats-left")
        expect(seats).to_have_text("10 of 10 seats left")
        expect(page.locator(".live-state").first).to_contain_text("Live")
        expect(page.get_by_text("Olga Organizer")).to_be_visible()
        page.get_by_label("Seats", exact=True).select_option("2")
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Booked!")).to_be_visible()
        expect(seats).to_have_text("8 of 10 seats left")

        # Another buyer books through the API: the open page follows without a reload.
        other = signup(rest, mesh)
        booked = rest.post(
            "/v1/bookings",
            params={"requestId": str(uuid.uuid4())},
            json={"eventId": wanted["id"], "seats": 3},
            headers=other.headers,
        )
        assert booked.status_code == 200, booked.text
        expect(seats).to_have_text("5 of 10 seats left")
        screenshot(page, "event")

        page.get_by_role("link", name="My bookings").click()
        booking = page.get_by_test_id("booking").filter(has_text="Jazz night")
        expect(booking).to_contain_text("Confirmed")
        expect(booking).to_contain_text("2 seats")
        screenshot(page, "bookings")
        booking.get_by_role("button", name="Cancel booking").click()
        expect(booking).to_contain_text("Cancelled")
        assert rest.get(f"/v1/events/{wanted['id']}").json()["seatsAvailable"] == 7

        # The inbox is live too: the confirmation and the cancellation arrive without a reload.
        page.get_by_role("link", name=re.compile("^Inbox")).click()
        inbox = page.get_by_test_id("notification")
        expect(inbox.filter(has_text="Booking cancelled").first).to_be_visible()
        expect(inbox.filter(has_text="Booking confirmed").first).to_be_visible()
        expect(page.locator("#site-nav").get_by_test_id("unread-count")).to_be_visible()
        screenshot(page, "inbox")
        page.get_by_role("button", name="Mark all as read").click()
        expect(page.get_by_test_id("unread-count")).to_have_count(0)

        page.get_by_role("link", name="Ada Participant").click()
        expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
        screenshot(page, "settings")

        # Signed in elsewhere too (an API client); signing out everywhere ends that sign-in as well.
        elsewhere = rest.post("/v1/auth:login", json={"email": address, "password": PASSWORD}).json()
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("You signed out everywhere")
    refused = rest.post("/v1/auth:refresh", json={"refreshToken": elsewhere["refreshToken"]})
    assert refused.status_code == 401, refused.text
    assert refused.json()["details"][0]["reason"] == "REFRESH_TOKEN_REVOKED"


def test_an_organizer_creates_an_event_approves_a_request_and_meets_a_conflict(
    mesh: Mesh, rest: httpx.Client, browser: Browser
) -> None:
    organizer = signup(rest, mesh, role="ROLE_ORGANIZER", display_name="Oscar Organizer")
    guest = signup(rest, mesh, display_name="Greta Guest")
    title = f"Movie meetup {uuid.uuid4().hex[:6]}"
    start = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=5)).replace(
        hour=19, minute=30, second=0, microsecond=0
    )

    with open_page(browser, mesh) as page:
        sign_in(page, organizer.email)
        page.get_by_role("link", name="My events").click()
        page.get_by_role("link", name="Create an event").click()
        page.get_by_label("Title").fill(title)
        page.get_by_label("Description").fill("We watch a film, then talk about it.")
        page.get_by_label("Time zone").fill("America/New_York")
        page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Ends").fill((start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("City").fill("New York")
        page.get_by_label("Venue").fill("The Living Room")
        page.get_by_label("Seats in total").fill("6")
        page.get_by_label("Tags").fill("Film, Meetup")
        page.get_by_label("I approve each booking").check()
        screenshot(page, "event-form")
        page.get_by_role("button", name="Create event").click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        event_id = page.url.rsplit("/", 1)[-1]
        created = rest.get(f"/v1/events/{event_id}").json()
        # The wall time typed in New York is the instant stored, whatever the browser's zone.
        assert created["startTime"] == start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert created["tags"] == ["film", "meetup"]
        assert created["requiresApproval"] is True

        request = rest.post(
            "/v1/bookings",
            params={"requestId": str(uuid.uuid4())},
            json={"eventId": event_id, "seats": 2},
            headers=guest.headers,
        )
        assert request.json()["state"] == "AWAITING_APPROVAL", request.text

        page.get_by_role("link", name="Guest list").click()
        row = page.get_by_test_id("guest").filter(has_text="Greta Guest")
        expect(row).to_contain_text("Waiting for the host")
        screenshot(page, "guests")
        row.get_by_role("button", name="Approve").click()
        expect(row).to_contain_text("Confirmed")
        assert rest.get(f"/v1/bookings/{request.json()['id']}", headers=guest.headers).json()["state"] == (
            "CONFIRMED"
        )

        # Someone else saves the event while the form is open: the console says so in words.
        page.get_by_role("link", name="Edit event").click()
        page.get_by_label("Title").fill(f"{title} (extended)")
        current = rest.get(f"/v1/events/{event_id}").json()
        changed = rest.patch(
            f"/v1/events/{event_id}",
            params={"updateMask": "venue"},
            json={"venue": "The Big Room", "etag": current["etag"]},
            headers=organizer.headers,
        )
        assert changed.status_code == 200, changed.text
        page.get_by_role("button", name="Save", exact=True).click()
        conflict = page.get_by_test_id("etag-conflict")
        expect(conflict).to_contain_text("Someone changed this event after you opened it")
        screenshot(page, "edit-conflict")
        conflict.get_by_role("button", name="Reload the event").click()
        expect(page.get_by_label("Venue")).to_have_value("The Big Room")
        page.get_by_label("Title").fill(f"{title} (extended)")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        assert rest.get(f"/v1/events/{event_id}").json()["title"] == f"{title} (extended)"


def _until_the_event_is_over(submit: Callable[[], None], outcome: Locator, refusal: Locator) -> None:
    """Reviews open once the bookings service has heard that the event is over (a bus message after
    the event completes): a person who is too early is told so, and tries again."""
    deadline = time.monotonic() + 30
    while True:
        submit()
        expect(outcome.or_(refusal)).to_be_visible()
        if outcome.is_visible():
            return
        assert time.monotonic() < deadline, "the event never became reviewable"
        time.sleep(0.5)


def test_after_the_event_the_guest_reviews_it_and_the_host_rates_the_guest(
    mesh: Mesh, rest: httpx.Client, browser: Browser
) -> None:
    organizer = signup(rest, mesh, role="ROLE_ORGANIZER", display_name="Hana Host")
    guest = signup(rest, mesh, display_name="Gus Guest")
    # Soon enough to be over within the test, late enough to be booked before it starts.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    event = create_event(
        rest,
        organizer,
        title=f"Quick lesson {uuid.uuid4().hex[:6]}",
        startTime=start.isoformat().replace("+00:00", "Z"),
        endTime=(start + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
    )
    booked = rest.post(
        "/v1/bookings",
        params={"requestId": str(uuid.uuid4())},
        json={"eventId": event["id"], "seats": 1},
        headers=guest.headers,
    )
    assert booked.json()["state"] == "CONFIRMED", booked.text
    deadline = time.monotonic() + 30
    while rest.get(f"/v1/events/{event['id']}").json()["state"] != "COMPLETED":
        assert time.monotonic() < deadline, "the event never completed"
        time.sleep(0.5)

    with open_page(browser, mesh) as page:
        sign_in(page, guest.email)
        page.get_by_role("link", name="My bookings").click()
        page.get_by_role("button", name="Past").click()
        booking = page.get_by_test_id("booking").filter(has_text=event["title"])
        booking.get_by_role("button", name="Review this event").click()
        booking.get_by_label("The event").select_option(label="5 stars")
        booking.get_by_label("The host").select_option(label="4 stars")
        booking.get_by_label("Comment (optional)").fill("Short, and worth every minute.")
        _until_the_event_is_over(
            lambda: booking.get_by_role("button", name="Send review").click(),
            booking.get_by_text("Thank you for your review."),
            booking.get_by_text("This can be done once the event is over."),
        )
        # The event's page lists it once the events service has it (a bus message away).
        page.get_by_role("link", name=event["title"]).click()
        review = page.get_by_text("Short, and worth every minute.")
        deadline = time.monotonic() + 15
        while not review.is_visible():
            assert time.monotonic() < deadline, "the review never appeared on the event's page"
            time.sleep(0.5)
            page.reload()
            page.get_by_role("heading", name="Reviews").wait_for()
        expect(page.get_by_text("Gus Guest")).to_be_visible()

    with open_page(browser, mesh) as page:
        sign_in(page, organizer.email)
        # In-app navigation: a reload would sign out (tokens live in the tab's memory only).
        page.get_by_role("link", name="My events").click()
        mine = page.get_by_test_id("organizer-event").filter(has_text=event["title"])
        mine.get_by_role("link", name="Guest list").click()
        row = page.get_by_test_id("guest").filter(has_text="Gus Guest")
        row.get_by_label("Rate this guest").select_option(label="5 stars")
        _until_the_event_is_over(
            lambda: row.get_by_role("button", name="Send rating").click(),
            row.get_by_text("Rating sent."),
            row.get_by_text("This can be done once the event is over."),
        )
        page.get_by_role("link", name="Ratings").click()
        expect(page.get_by_role("heading", name="Reviews of your events")).to_be_visible()
        page.get_by_role("button", name="Show reviews").click()
        expect(page.get_by_text("Short, and worth every minute.")).to_be_visible()
        screenshot(page, "reviews")
    assert rest.get(f"/v1/users/{guest.id}").json()["guestRating"] == {"average": 5, "count": 1}


def test_an_admin_changes_a_role_and_the_person_signs_in_again(
    mesh: Mesh, rest: httpx.Client, browser: Browser
) -> None:
    admin_email = create_admin(mesh)
    person = signup(rest, mesh, display_name="Paula Promoted")

    with open_page(browser, mesh) as own:
        # The person's own tab, signed in before the change; its clock is the test's to move.
        own.clock.install()
        sign_in(own, person.email)
        expect(own.get_by_role("link", name="Paula Promoted")).to_be_visible()
        expect(own.get_by_role("link", name="My events")).to_have_count(0)

        with open_page(browser, mesh) as page:
            sign_in(page, admin_email)
            page.get_by_role("link", name="Admin", exact=True).click()
            page.get_by_label("Email starts with").fill(person.email)
            page.get_by_role("button", name="Search").click()
            row = page.get_by_test_id("user-row")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("Paula Promoted")
            row.get_by_label("Role of Paula Promoted").select_option(label="Organizer")
            row.get_by_role("button", name="Change role").click()
            expect(row.get_by_role("status")).to_contain_text("Role changed.")
            screenshot(page, "admin-users")
            for tab, heading, name in [
                ("Events", "All events", "admin-events"),
                ("Deliveries", "Email and SMS deliveries", "admin-deliveries"),
                ("Dead letters", "Dead letters", "admin-dead-letters"),
            ]:
                page.get_by_role("navigation", name="Admin").get_by_role("link", name=tab).click()
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
                expect(page.get_by_role("alert")).to_have_count(0)
                screenshot(page, name)

        # A new role ends every sign-in of the account: no refresh token of it works any more.
        refused = rest.post("/v1/auth:refresh", json={"refreshToken": person.refresh_token})
        assert refused.status_code == 401, refused.text
        assert refused.json()["details"][0]["reason"] == "REFRESH_TOKEN_REVOKED"

        # The tab renews its session before the access token runs out (15 minutes on): refused, it
        # says so in words, and the person signs in again, now with the new role.
        own.clock.fast_forward("15:00")
        expect(own.get_by_role("status").filter(has_text="You were signed out")).to_be_visible()
        expect(own.get_by_role("link", name="Paula Promoted")).to_have_count(0)
        screenshot(own, "signed-out-revoked")
        sign_in(own, person.email)
        expect(own.get_by_role("link", name="My events")).to_be_visible()
    me = rest.post("/v1/auth:login", json={"email": person.email, "password": PASSWORD}).json()
    role = rest.get("/v1/users/me", headers={"Authorization": f"Bearer {me['accessToken']}"}).json()["role"]
    assert role == "ROLE_ORGANIZER"


def test_a_russian_speaker_books_on_a_phone(mesh: Mesh, rest: httpx.Client, browser: Browser) -> None:
    organizer = signup(rest, mesh, role="ROLE_ORGANIZER")
    city = f"Казань {uuid.uuid4().hex[:4]}"
    event = create_event(rest, organizer, title="Кинопоказ", city=city, capacity=4)
    person = signup(rest, mesh, display_name="Ирина")

    with open_page(browser, mesh, viewport=PHONE) as page:
        page.goto("/")
        page.get_by_role("button", name="Menu").click()
        page.get_by_label("Language").select_option("ru")
        expect(page.get_by_role("heading", name="Найти событие")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "ru")

        # The menu stays open while the language changes; a link closes it.
        page.get_by_role("link", name="Войти").click()
        page.get_by_label("Эл. почта").fill(person.email)
        page.get_by_label("Пароль").fill("not the password")
        page.get_by_role("button", name="Войти").click()
        expect(page.get_by_role("alert")).to_contain_text("Неверная почта или пароль.")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()
        expect(page.get_by_role("heading", name="Найти событие")).to_be_visible()

        page.get_by_label("Город").fill(event["city"])
        page.get_by_role("button", name="Найти").click()
        expect(page.locator(".event-card").filter(has_text="Кинопоказ")).to_contain_text("Бесплатно")
        page.get_by_role("link", name="Кинопоказ").click()
        expect(page.get_by_test_id("seats-left")).to_have_text("Свободно 4 из 4 мест")
        page.get_by_label("Мест", exact=True).select_option("3")
        page.get_by_role("button", name="Забронировать", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Готово! Места за вами.")).to_be_visible()
        expect(page.get_by_test_id("my-booking")).to_contain_text("3 места")
        expect(page.get_by_test_id("seats-left")).to_have_text("Свободно 1 из 4 мест")
        screenshot(page, "event-ru-phone")

        # The language is remembered; the session is not (tokens live in memory only).
        page.reload()
        expect(page.get_by_role("heading", name="Кинопоказ")).to_be_visible()
        expect(page.get_by_role("link", name="Войдите, чтобы забронировать")).to_be_visible()
        stored = page.evaluate("() => Object.keys(localStorage)")
        assert stored == ["seatmesh.language"], stored


EUROS_25 = {"currencyCode": "EUR", "units": "25"}


def test_an_organizer_sells_for_bank_transfer_marks_it_paid_and_an_admin_refunds(
    mesh: Mesh, rest: httpx.Client, browser: Browser
) -> None:
    """The main mesh's payments are manual (bank transfer or cash): the organizer confirms them."""
    organizer = signup(rest, mesh, role="ROLE_ORGANIZER", display_name="Mona Manual")
    guest = signup(rest, mesh, display_name="Gil Guest")
    admin_email = create_admin(mesh)
    title = f"Wine tasting {uuid.uuid4().hex[:6]}"
    start = (datetime.now(ZoneInfo("Europe/Vienna")) + timedelta(days=6)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )

    with open_page(browser, mesh) as page:
        sign_in(page, organizer.email)
        page.get_by_role("link", name="My events").click()
        page.get_by_role("link", name="Create an event").click()
        page.get_by_label("Title").fill(title)
        page.get_by_label("Time zone").fill("Europe/Vienna")
        page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("Ends").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("City").fill("Vienna")
        page.get_by_label("Seats in total").fill("12")
        # Cents only: the console says so before anything is sent, next to the field.
        page.get_by_label("Price per seat").fill("12.345")
        page.get_by_label("Currency").select_option("EUR")
        page.get_by_label("Full refund until (hours before the start)").fill("48")
        page.get_by_label("Hold seats for payment (minutes)").fill("30")
        page.get_by_role("button", name="Create event").click()
        expect(page.locator("#field-price-error")).to_have_text("EUR has 2 digits after the decimal point.")
        page.get_by_label("Price per seat").fill("12,50")
        screenshot(page, "event-form-paid")
        page.get_by_role("button", name="Create event").click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page.get_by_test_id("price").first).to_have_text("€12.50 per seat")
        expect(page.get_by_test_id("refund-policy")).to_contain_text("at least 48 hours before the start")
        event_id = page.url.rsplit("/", 1)[-1]
        created = rest.get(f"/v1/events/{event_id}").json()
        assert created["price"] == {"currencyCode": "EUR", "units": "12", "nanos": 500000000}
        assert created["refundPolicy"] == {"fullRefundUntilHoursBeforeStart": 48}
        assert created["paymentHold"] == "1800s"

        # A new price applies to seats booked from now on; the form sends only what changed.
        page.get_by_role("link", name="Edit event").click()
        expect(page.get_by_label("Price per seat")).to_have_value("12.50")
        page.get_by_label("Price per seat").fill("15")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        changed = rest.get(f"/v1/events/{event_id}").json()
        assert changed["price"] == {"currencyCode": "EUR", "units": "15", "nanos": 0}
        assert changed["refundPolicy"] == {"fullRefundUntilHoursBeforeStart": 48}
        page.get_by_role("link", name="View the event page").click()
        expect(page.get_by_test_id("price").first).to_have_text("€15.00 per seat")

        booked = rest.post(
            "/v1/bookings",
            params={"requestId": str(uuid.uuid4())},
            json={"eventId": event_id, "seats": 2},
            headers=guest.headers,
        ).json()
        assert booked["state"] == "AWAITING_PAYMENT", booked
        assert booked["amount"] == {"currencyCode": "EUR", "units": "30", "nanos": 0}

        page.get_by_role("link", name="Guest list").click()
        row = page.get_by_test_id("guest").filter(has_text="Gil Guest")
        expect(row).to_contain_text("Waiting for payment")
        expect(row).to_contain_text("€30.00")
        payment = page.get_by_test_id("payment").filter(has_text="Gil Guest")
        expect(payment).to_contain_text("Bank transfer or cash")
        # The money arrived by transfer: the organizer says so, and bookings confirms the seats.
        payment.get_by_role("button", name="Mark as paid").click()
        expect(payment).to_contain_text("Paid")
        expect(payment.get_by_role("status")).to_contain_text("Marked as paid.")
        until(
            lambda: (
                rest.get(f"/v1/bookings/{booked['id']}", headers=guest.headers).json()["state"] == "CONFIRMED"
            ),
            "the booking paid by transfer confirmed",
        )
        screenshot(page, "guests-payments-manual")

    with open_page(browser, mesh) as page:
        sign_in(page, admin_email)
        page.get_by_role("link", name="Admin", exact=True).click()
        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Payments").click()
        expect(page.get_by_role("heading", name="Payments and refunds")).to_be_visible()
        page.get_by_label("State").select_option(label="Paid")
        payment = page.get_by_test_id("payment").filter(has_text=title)
        payment.get_by_role("button", name="Refund…").click()
        payment.get_by_label("Reason (optional)").fill("The venue closed")
        payment.get_by_role("button", name="Refund", exact=True).click()
        expect(payment.get_by_test_id("refund")).to_contain_text("€30.00")
        expect(payment.get_by_test_id("refund")).to_contain_text("by an admin")
        screenshot(page, "admin-payments")
    (paid,) = rest.get("/v1/payments", params={"bookingId": booked["id"]}, headers=guest.headers).json()[
        "payments"
    ]
    assert paid["refunded"] == paid["captured"] == {"currencyCode": "EUR", "units": "30", "nanos": 0}
    assert paid["refunds"][0]["initiatedBy"] == "ADMIN"


def test_a_participant_pays_at_the_checkout_and_comes_back_to_a_confirmed_booking(
    stripe_mesh: Mesh, stripe_rest: httpx.Client, browser: Browser
) -> None:
    organizer = signup(stripe_rest, stripe_mesh, role="ROLE_ORGANIZER", display_name="Otto Organizer")
    buyer = signup(stripe_rest, stripe_mesh, display_name="Bea Buyer")
    title = f"Paid concert {uuid.uuid4().hex[:6]}"
    event = create_event(
        stripe_rest,
        organizer,
        title=title,
        price=EUROS_25,
        refundPolicy={"fullRefundUntilHoursBeforeStart": 24},
    )

    with open_page(browser, stripe_mesh) as page:
        sign_in(page, buyer.email, path=f"/signin?next=/events/{event['id']}")
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page.get_by_test_id("price").first).to_have_text("€25.00 per seat")
        expect(page.get_by_test_id("refund-policy")).to_contain_text("at least 24 hours before the start")
        page.get_by_label("Seats", exact=True).select_option("2")
        expect(page.get_by_test_id("book-total")).to_have_text("Total: €50.00")
        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Your seats are held.")).to_be_visible()
        due = page.get_by_test_id("payment-due")
        expect(due.get_by_test_id("amount-due")).to_have_text("€50.00")
        # The hold (15 minutes by default) counts down live.
        timer = due.get_by_role("timer")
        expect(timer).to_have_text(re.compile(r"^1[45]:\d\d$"))
        first = timer.inner_text()
        expect(timer).not_to_have_text(first)
        screenshot(page, "event-awaiting-payment")

        due.get_by_role("button", name="Pay €50.00").click()
        page.wait_for_url(f"{stripe_mesh.fake_stripe_url}/pay/**")
        page.get_by_role("button", name="Pay", exact=True).click()

        # Stripe sends the buyer back to the success URL payments gave it: a fresh page of the
        # console (the session lived in the tab's memory), which asks to sign in and then shows it.
        page.wait_for_url(re.compile(r"/bookings\?payment="))
        expect(page.get_by_text("Welcome back from the payment page.")).to_be_visible()
        page.get_by_role("main").get_by_role("link", name="Sign in").click()
        page.get_by_label("Email").fill(buyer.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        outcome = page.get_by_test_id("payment-outcome")
        expect(outcome).to_contain_text(f"Payment received: your booking for {title} is confirmed.")
        booking = page.get_by_test_id("booking").filter(has_text=title)
        expect(booking).to_contain_text("Confirmed")
        expect(booking).to_contain_text("€50.00")
        screenshot(page, "payment-return")

        page.get_by_role("link", name="Your payments and refunds").click()
        payment = page.get_by_test_id("payment").filter(has_text=title)
        expect(payment).to_contain_text("Paid")
        expect(payment).to_contain_text("Card (Stripe)")
        expect(payment.get_by_test_id("payment-money")).to_have_text("Received €50.00")
        screenshot(page, "my-payments")
    (booked,) = stripe_rest.get(
        "/v1/bookings", params={"eventId": event["id"]}, headers=buyer.headers
    ).json()["bookings"]
    assert booked["state"] == "CONFIRMED"


def _until_shown(refresh: Callable[[], None], cell: Locator, text: str) -> None:
    """The report is a read model fed by the bus: a moment behind the payments it counts."""
    deadline = time.monotonic() + 30
    while cell.inner_text() != text:
        assert time.monotonic() < deadline, f"the report never showed {text!r} (last: {cell.inner_text()!r})"
        time.sleep(0.5)
        refresh()
        expect(cell).to_be_visible()


def test_an_organizer_reads_the_sales_report_with_its_chart_and_refunds_part_of_a_payment(
    stripe_mesh: Mesh, stripe_rest: httpx.Client, browser: Browser
) -> None:
    organizer = signup(stripe_rest, stripe_mesh, role="ROLE_ORGANIZER", display_name="Rita Reporter")
    ana = signup(stripe_rest, stripe_mesh, display_name="Ana Attendee")
    ben = signup(stripe_rest, stripe_mesh, display_name="Ben Buyer")
    title = f"Sold-out show {uuid.uuid4().hex[:6]}"
    event = create_event(stripe_rest, organizer, title=title, price=EUROS_25, capacity=10)
    ana_payment = book_and_pay(stripe_rest, stripe_mesh, ana, event["id"], seats=2)
    book_and_pay(stripe_rest, stripe_mesh, ben, event["id"], seats=1)

    with open_page(browser, stripe_mesh) as page:
        sign_in(page, organizer.email)
        page.get_by_role("link", name="My events").click()
        page.get_by_role("link", name="Sales report").click()
        expect(page.get_by_role("heading", name="Sales report")).to_be_visible()
        row = page.get_by_test_id("sales-row").filter(has_text=title)
        refresh = page.get_by_role("button", name="Refresh").click
        _until_shown(refresh, row.get_by_test_id("row-captured"), "€75.00")
        expect(row.get_by_test_id("row-seats")).to_have_text("3 of 10")
        expect(row.get_by_test_id("row-revenue")).to_have_text("€75.00")
        expect(page.get_by_test_id("total-captured")).to_have_text("€75.00")
        expect(page.get_by_test_id("total-seats")).to_have_text("3")
        # The chart: one bar today, as tall as the seats sold; then the money in euros.
        chart = page.get_by_test_id("sales-chart")
        expect(chart).to_be_visible()
        bars = chart.get_by_test_id("chart-bar")
        expect(bars).to_have_count(1)
        expect(bars.first).to_have_attribute("data-value", "3")
        page.get_by_role("button", name="Money (EUR)").click()
        expect(bars).to_have_count(1)
        expect(bars.first).to_have_attribute("data-value", "75")
        expect(bars.first.locator("title")).to_contain_text("Received: €75.00")
        screenshot(page, "sales")

        # Part of Ana's payment back, from the event's payments beside its guest list.
        row.get_by_role("link", name="Payments").click()
        payment = page.get_by_test_id("payment").filter(has_text="Ana Attendee")
        payment.get_by_role("button", name="Refund…").click()
        payment.get_by_label("Amount to refund (EUR)").fill("60")
        payment.get_by_role("button", name="Refund", exact=True).click()
        expect(payment.get_by_role("alert")).to_contain_text("At most €50.00 is left to refund.")
        payment.get_by_label("Amount to refund (EUR)").fill("20")
        payment.get_by_label("Reason (optional)").fill("Half of the show was cancelled")
        payment.get_by_role("button", name="Refund", exact=True).click()
        expect(payment.get_by_test_id("refund")).to_contain_text("€20.00")
        expect(payment.get_by_test_id("payment-money")).to_have_text("Received €50.00 · refunded €20.00")
        screenshot(page, "guests-payments")

        page.get_by_role("link", name="Sales", exact=True).click()
        _until_shown(refresh, page.get_by_test_id("row-revenue"), "€55.00")
        expect(page.get_by_test_id("row-refunded")).to_contain_text("€20.00")
        expect(page.get_by_role("heading", name=f"Sales: {title}")).to_be_visible()

    refunded = stripe_rest.get(f"/v1/payments/{ana_payment['id']}", headers=organizer.headers).json()
    assert refunded["refunded"] == {"currencyCode": "EUR", "units": "20", "nanos": 0}
    assert refunded["refunds"][0]["initiatedBy"] == "ORGANIZER"
