"""The development SMTP sink (scripts/smtp_sink.py): what it stores and the line it prints per message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from scripts.smtp_sink import MailDirHandler, header_fields, verification_code
from services.notifications import content
from services.notifications.content import Links
from services.notifications.domain.messages import BookingSummary, Content, EventSummary
from services.notifications.mailer import EmailRenderer, verification_subject

RENDERER = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
EVENT = EventSummary(
    event_id="e1",
    title="Органный вечер: Бах и Букстехуде, большой зал консерватории",
    start_time=datetime(2031, 3, 1, 17, tzinfo=UTC),
    end_time=datetime(2031, 3, 1, 19, tzinfo=UTC),
    time_zone="Europe/Moscow",
)


SEALED = b"\x01sealed"


def rendered(message: Content, code: str = "") -> bytes:
    return RENDERER.render(
        message, code=code, delivery_id="d-1", to_address="ada@example.com", to_name="Ада"
    ).data


def test_headers_are_read_without_parsing_the_message_and_encoded_words_decoded() -> None:
    booking = content.booking_confirmed(BookingSummary("b1", 2, EVENT), Links("https://seatmesh.example"))
    fields = header_fields(rendered(booking), "Subject", "X-Seatmesh-Kind", "To")
    assert fields["subject"] == booking.title
    assert fields["x-seatmesh-kind"] == "BOOKING_CONFIRMED"
    assert fields["to"] == "Ада <ada@example.com>"


def test_the_code_is_found_in_verification_mail_only() -> None:
    code = content.verification_code(
        sealed_code=SEALED, display_name="Ada", expire_time=None, now=datetime.now(UTC)
    )
    raw = rendered(code, "493817")
    assert verification_code(raw, header_fields(raw, "Subject")["subject"], "VERIFICATION_CODE") == "493817"
    booking = content.booking_confirmed(
        BookingSummary("b1", 123456, EVENT), Links("https://seatmesh.example")
    )
    raw = rendered(booking)
    assert verification_code(raw, booking.title, "BOOKING_CONFIRMED") is None
    # Mail from another sender (no X-Seatmesh-Kind): the code is looked for in the body too.
    other = b"Subject: Welcome\r\nContent-Type: text/plain\r\n\r\nYour code is 246810.\r\n"
    assert verification_code(other, "Welcome", "") == "246810"
    assert verification_code(b"Subject: Hi\r\n\r\nRoom 246810.\r\n", "Hi", "") is None


@pytest.mark.parametrize("kind", ["VERIFICATION_CODE", "WELCOME"])
async def test_each_message_is_stored_as_sent_and_announced_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    code = content.verification_code(
        sealed_code=SEALED, display_name="Ada", expire_time=None, now=datetime.now(UTC)
    )
    verification = kind == "VERIFICATION_CODE"
    message = code if verification else content.welcome(organizer=False, links=Links("https://x"))
    raw = rendered(message, "135790" if verification else "")
    subject = verification_subject("135790") if verification else message.title
    handler = MailDirHandler(tmp_path / "mail")
    envelope = SimpleNamespace(original_content=raw, content=raw, rcpt_tos=["ada@example.com"])
    assert (await handler.handle_DATA(None, None, envelope)).startswith("250")
    [stored] = (tmp_path / "mail").glob("*.eml")
    assert stored.read_bytes() == raw
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"mail to ada@example.com: {subject}")
    assert ("code 135790" in line) == verification
    assert str(stored) in line
