"""The web console in a real browser: Debian's Chromium driven by Playwright, against the mesh.

Playwright's own browsers are never downloaded (`playwright install` needs the internet): the
tests drive /usr/bin/chromium from Debian's `chromium` package, which `.ci/run` installs. Each
browser starts with a fresh temporary profile and without the background traffic Chromium would
otherwise send to Google's hosts (refused on these machines, many times a second).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright

from scripts.mesh import Mesh
from tests.support.accounts import PASSWORD, Account

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SEATMESH_CHROMIUM", "/usr/bin/chromium"))
# Every main page is photographed here on each run (git ignores var/).
SCREENSHOTS = ROOT / "var" / "screenshots" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# A zone unlike every event's in these tests, so pages show both the event's time and the viewer's.
VIEWER_ZONE = "Asia/Tokyo"


def launch(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise AssertionError(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`, as .ci/run "
            "does) or point SEATMESH_CHROMIUM at a Chromium binary"
        )
    # launch() gives every browser a new temporary profile (user data dir) and removes it after.
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


@contextmanager
def open_page(
    browser: Browser, mesh: Mesh, *, viewport: dict[str, int] = DESKTOP, locale: str = "en-US"
) -> Iterator[Page]:
    """A page in its own browser context (cookies, storage, memory: a separate person)."""
    context = browser.new_context(
        base_url=mesh.rest_url, viewport=viewport, locale=locale, timezone_id=VIEWER_ZONE
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    # Confirmation dialogs ("Cancel this booking?") are answered yes, as a person would.
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page
        assert not failures, f"the console threw: {failures}"
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, email: str, password: str = PASSWORD, *, path: str = "/signin") -> None:
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^(?!.*/signin)"))


def create_event(rest: httpx.Client, organizer: Account, **fields: Any) -> dict[str, Any]:
    """An event through the REST API, starting in three days unless told otherwise."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = {
        "title": f"Console test {uuid.uuid4().hex[:6]}",
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "endTime": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "timeZone": "Europe/Berlin",
        "city": "Berlin",
        "venue": "A-Trane",
        "capacity": 10,
        **fields,
    }
    response = rest.post(
        "/v1/events", params={"requestId": str(uuid.uuid4())}, json=body, headers=organizer.headers
    )
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def create_admin(mesh: Mesh) -> str:
    """An admin the only way there is: `seatmesh create-admin` on the users database."""
    address = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    environment["SEATMESH_DATABASE_URL"] = mesh.service_database_url("users")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "seatmesh"),
            "create-admin",
            "--email",
            address,
            "--display-name",
            "Console Admin",
            "--password",
            PASSWORD,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return address


def until(check: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    """The first truthy answer of `check`, asked again every 0.2 s (news travels by the bus)."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.2)


def book_and_pay(rest: httpx.Client, mesh: Mesh, guest: Account, event_id: str, seats: int) -> dict[str, Any]:
    """A guest books a paid event and pays at the fake Stripe's checkout, as a browser would post
    its Pay button; returns the payment once Stripe's webhook confirmed the booking."""
    booked = rest.post(
        "/v1/bookings",
        params={"requestId": str(uuid.uuid4())},
        json={"eventId": event_id, "seats": seats},
        headers=guest.headers,
    )
    assert booked.status_code == 200, booked.text
    assert booked.json()["state"] == "AWAITING_PAYMENT", booked.text
    booking_id = booked.json()["id"]
    checkout = until(
        lambda: (
            (
                found := rest.post(
                    "/v1/payments:checkout", json={"bookingId": booking_id}, headers=guest.headers
                )
            ).status_code
            == 200
            and found.json()
        ),
        "a checkout",
    )
    assert mesh.fake_stripe_url is not None
    assert checkout["checkoutUrl"].startswith(mesh.fake_stripe_url)
    assert httpx.post(checkout["checkoutUrl"] + "/complete", timeout=10).status_code == 303
    until(
        lambda: rest.get(f"/v1/bookings/{booking_id}", headers=guest.headers).json()["state"] == "CONFIRMED",
        "the paid booking confirmed",
    )
    paid: dict[str, Any] = rest.get(f"/v1/payments/{checkout['id']}", headers=guest.headers).json()
    return paid
