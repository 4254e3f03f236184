"""What notifications says about accounts: verification codes (email, SMS) and the welcome."""

from __future__ import annotations

from datetime import datetime

from services.notifications.content.links import Links
from services.notifications.domain.kinds import (
    Kind,
)
from services.notifications.domain.messages import (
    Content,
)


def _expires_in(expire_time: datetime | None, now: datetime) -> str:
    if expire_time is None:
        return ""
    left = max(1, round((expire_time - now).total_seconds() / 60))
    return f" It expires in {left} minutes."


def verification_code(
    *, sealed_code: bytes, display_name: str, expire_time: datetime | None, now: datetime
) -> Content:
    return Content(
        kind=Kind.VERIFICATION_CODE,
        title="Verify your email address",
        # The code itself is only in `sealed_code` (the templates show it opened), so no text of
        # the message ever holds it.
        paragraphs=(
            f"Enter this code to confirm your email address.{_expires_in(expire_time, now)} "
            "If you did not sign up for seatmesh, ignore this email.",
        ),
        sealed_code=sealed_code,
        expires_at=expire_time,
        recipient_name=display_name,
        transactional=True,
    )


def phone_verification_code(
    *, sealed_code: bytes, display_name: str, expire_time: datetime | None, now: datetime
) -> Content:
    """Sent by SMS, which shows only the code; the title and paragraphs say what the stored message
    was."""
    return Content(
        kind=Kind.VERIFICATION_CODE,
        title="Verify your phone number",
        paragraphs=(f"Enter this code to confirm your phone number.{_expires_in(expire_time, now)}",),
        sealed_code=sealed_code,
        expires_at=expire_time,
        recipient_name=display_name,
        transactional=True,
    )


def welcome(*, organizer: bool, links: Links) -> Content:
    what = (
        "Publish your first event and share it: guests book seats, and you can approve each one if you like."
        if organizer
        else "Find an event you like and book your seats; we'll remind you before it starts."
    )
    return Content(
        kind=Kind.WELCOME,
        title="Welcome to seatmesh",
        paragraphs=("Thanks for joining seatmesh.", what),
        link=links.events(),
        action="Browse events",
    )
