"""Pure parts of notifications: channels and preferences, retries, reminders, content and templates."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import random
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pydantic import ValidationError

from seatmesh.notifications.v1 import notifications_pb2 as pb
from services.notifications import content
from services.notifications.content import Links
from services.notifications.convert import (
    CHANNEL_FROM_PROTO,
    KIND_FROM_PROTO,
    KIND_TO_PROTO,
    preference_choices,
    send_draft,
)
from services.notifications.domain.kinds import Channel, Kind
from services.notifications.domain.messages import (
    BookingSummary,
    Content,
    EventChange,
    EventSummary,
    describe_offset,
    format_time,
)
from services.notifications.domain.rules import (
    DEFAULT_CHOICE,
    ChannelChoice,
    ReminderOffsets,
    configurable_kinds,
    effective_preferences,
    reminder_still_useful,
    reminders_for,
    requested_channels,
    retry_delay,
    validate_preferences,
    validate_send,
)
from services.notifications.mailer import EmailRenderer, valid_address
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import SmsRenderer
from services.runtime.errors import ServiceError

LINKS = Links("https://seatmesh.example/")
BERLIN_EVENT = EventSummary(
    event_id="e1",
    title="Jazz <night>",
    start_time=datetime(2031, 3, 30, 0, 30, tzinfo=UTC),  # 01:30 CET, the night clocks go forward
    end_time=datetime(2031, 3, 30, 3, 0, tzinfo=UTC),  # 05:00 CEST
    time_zone="Europe/Berlin",
    city="Berlin",
    venue="Keller",
)


def test_kinds_round_trip_and_security_mail_is_not_configurable() -> None:
    assert KIND_FROM_PROTO[pb.KIND_REMINDER_24H] == "REMINDER_24H"
    assert KIND_TO_PROTO[Kind("REMINDER_24H")] == pb.KIND_REMINDER_24H
    # Every kind of the contract is a kind of the domain, and back.
    assert {KIND_TO_PROTO[kind] for kind in Kind} == set(pb.Kind.values()) - {pb.KIND_UNSPECIFIED}
    kinds = configurable_kinds()
    assert Kind.VERIFICATION_CODE not in kinds
    assert pb.KIND_UNSPECIFIED not in KIND_FROM_PROTO
    assert Kind.ANNOUNCEMENT in kinds


def test_preferences_default_to_in_app_and_email() -> None:
    assert ChannelChoice(in_app=True, email=True, sms=False) == DEFAULT_CHOICE
    mine = ChannelChoice(in_app=False, email=False, sms=True)
    effective = effective_preferences({Kind.WELCOME: mine})
    assert effective[Kind.WELCOME] == mine
    assert effective[Kind.BOOKING_CONFIRMED] == DEFAULT_CHOICE
    assert mine.channels() == {"SMS"}


def test_requested_channels_default_to_in_app_and_email() -> None:
    assert requested_channels([]) == {"IN_APP", "EMAIL"}
    chosen = [CHANNEL_FROM_PROTO[pb.CHANNEL_SMS], CHANNEL_FROM_PROTO[pb.CHANNEL_IN_APP]]
    assert requested_channels(chosen) == {"SMS", "IN_APP"}


def test_preference_updates_name_every_problem_at_once() -> None:
    request = pb.NotificationPreferences(
        kinds=[
            pb.KindPreference(kind=pb.KIND_VERIFICATION_CODE),
            pb.KindPreference(kind=pb.KIND_UNSPECIFIED),
            pb.KindPreference(kind=pb.KIND_WELCOME, sms=True),
            pb.KindPreference(kind=pb.KIND_WELCOME),
        ]
    )
    with pytest.raises(ServiceError) as raised:
        validate_preferences(preference_choices(request), given=True)
    assert [violation.field for violation in raised.value.violations] == [
        "preferences.kinds[0].kind",
        "preferences.kinds[1].kind",
        "preferences.kinds[3].kind",
    ]
    with pytest.raises(ServiceError) as raised:
        validate_preferences([], given=False)
    assert [violation.field for violation in raised.value.violations] == ["preferences"]
    only_sms = ChannelChoice(in_app=False, email=False, sms=True)
    assert validate_preferences(
        preference_choices(pb.NotificationPreferences(kinds=request.kinds[2:3])), given=True
    ) == {Kind.WELCOME: only_sms}


def test_sends_are_validated_and_normalized() -> None:
    bad = pb.SendNotificationRequest(title=" ", body="x" * 5001, channels=[pb.CHANNEL_UNSPECIFIED])
    with pytest.raises(ServiceError) as raised:
        validate_send(send_draft(bad), is_admin=False)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {violation.field for violation in raised.value.violations} == {
        "title",
        "body",
        "channels[0]",
        "event_id",
    }
    announcement = validate_send(
        send_draft(pb.SendNotificationRequest(title=" Hi ", body="All")), is_admin=True
    )
    assert (announcement.event_id, announcement.title, announcement.channels) == (
        None,
        "Hi",
        {Channel.IN_APP, Channel.EMAIL},
    )
    event_id = "0D6F2B0C-3C1B-4C56-9B5E-0A8B8F1E2D3C"
    to_guests = validate_send(
        send_draft(
            pb.SendNotificationRequest(event_id=event_id, title="T", body="B", channels=[pb.CHANNEL_SMS])
        ),
        is_admin=False,
    )
    assert (to_guests.event_id, to_guests.channels) == (event_id.lower(), {Channel.SMS})
    with pytest.raises(ServiceError) as raised:
        validate_send(
            send_draft(pb.SendNotificationRequest(event_id="nope", title="T", body="B")), is_admin=True
        )
    assert [violation.field for violation in raised.value.violations] == ["event_id"]


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, full in [(1, 10.0), (2, 20.0), (3, 40.0), (10, 300.0)]:
        for _ in range(50):
            delay = retry_delay(attempt, base=10.0, cap=300.0, rng=rng)
            assert full / 2 <= delay <= full
    spread = {round(retry_delay(3, base=10.0, cap=300.0, rng=rng), 3) for _ in range(20)}
    assert len(spread) > 10


def test_reminders_skip_what_was_already_due_when_booked() -> None:
    offsets = ReminderOffsets(timedelta(hours=24), timedelta(hours=1))
    start = datetime(2031, 5, 10, 18, 0, tzinfo=UTC)
    early = reminders_for(start, start - timedelta(days=3), offsets)
    assert early == [
        ("REMINDER_24H", start - timedelta(hours=24)),
        ("REMINDER_1H", start - timedelta(hours=1)),
    ]
    assert reminders_for(start, start - timedelta(hours=5), offsets) == [
        ("REMINDER_1H", start - timedelta(hours=1))
    ]
    assert reminders_for(start, start - timedelta(minutes=30), offsets) == []
    assert reminder_still_useful(start, start - timedelta(seconds=1))
    assert not reminder_still_useful(start, start)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86_400, "24 hours"), (3_600, "1 hour"), (172_800, "2 days"), (5_400, "90 minutes"), (6, "6 seconds")],
)
def test_offsets_read_naturally(seconds: int, text: str) -> None:
    assert describe_offset(timedelta(seconds=seconds)) == text


def test_times_are_shown_in_the_events_time_zone_across_dst() -> None:
    assert BERLIN_EVENT.when() == ("Sunday, 30 March 2031, 01:30 CET – 05:00 CEST (Europe/Berlin)")
    tokyo = format_time(datetime(2031, 1, 1, 0, 0, tzinfo=UTC), "Asia/Tokyo")
    assert tokyo == "Wednesday, 1 January 2031, 09:00 JST (Asia/Tokyo)"
    # Zones without a letter abbreviation stay readable; unknown ones are shown in UTC.
    assert format_time(datetime(2031, 1, 1, tzinfo=UTC), "Asia/Dubai").endswith("04:00 Asia/Dubai")
    assert format_time(datetime(2031, 1, 1, tzinfo=UTC), "Mars/Olympus").endswith("00:00 UTC")


def test_event_changes_are_described_before_and_after() -> None:
    change = EventChange(
        changed_fields=["start_time", "venue", "title"],
        previous_start_time=BERLIN_EVENT.start_time - timedelta(days=1),
        previous_end_time=BERLIN_EVENT.end_time - timedelta(days=1),
        previous_venue="Garten",
    )
    lines = content.describe_changes(BERLIN_EVENT, change)
    assert lines[0].startswith("Time: Saturday, 29 March 2031, 01:30–04:00 CET (Europe/Berlin) → ")
    assert lines[0].endswith("→ " + BERLIN_EVENT.when())
    assert lines[1] == "Venue: Garten → Keller"
    assert lines[2] == "Title changed"


def test_content_survives_storage() -> None:
    booking = BookingSummary(booking_id="b1", seats=3, event=BERLIN_EVENT)
    original = content.booking_confirmed(booking, LINKS)
    restored = Content.from_json(original.to_json())
    assert restored == original
    assert original.link == "https://seatmesh.example/v1/bookings/b1"
    assert "Seats: 3 seats" in original.body
    code = content.verification_code(
        code="123456",
        display_name="Ada",
        expire_time=datetime(2031, 1, 1, 0, 15, tzinfo=UTC),
        now=datetime(2031, 1, 1, tzinfo=UTC),
    )
    assert Content.from_json(code.to_json()) == code
    # Every field is stored (a new field must not be silently dropped).
    assert set(code.to_json()) == {field.name for field in dataclasses.fields(Content)}
    assert code.subject == "123456 is your seatmesh verification code"
    assert "expires in 15 minutes" in code.body


def test_emails_have_text_and_escaped_html_a_stable_id_and_a_footer_unless_transactional() -> None:
    renderer = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
    booking = BookingSummary(booking_id="b1", seats=1, event=BERLIN_EVENT)
    message = renderer.render(
        content.booking_confirmed(booking, LINKS),
        delivery_id="d-1",
        to_address="gus@example.com",
        to_name="Gus Ünal",
    )
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert parsed["Message-ID"] == "<d-1@mail.example>"
    assert parsed["Subject"] == "Booking confirmed: Jazz <night>"
    assert "Gus Ünal" in str(parsed["To"])
    text = parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Hi Gus Ünal," in text
    assert "Jazz <night>" in text
    assert "Jazz &lt;night&gt;" in html
    assert "<night>" not in html
    assert "https://seatmesh.example/v1/notifications/preferences" in text
    assert parsed["List-Unsubscribe"] == "<https://seatmesh.example/v1/notifications/preferences>"

    code = content.verification_code(
        code="654321", display_name="Ada", expire_time=None, now=datetime.now(UTC)
    )
    rendered = renderer.render(code, delivery_id="d-2", to_address="ada@example.com", to_name="")
    security = email.message_from_bytes(rendered.data, policy=email.policy.default)
    assert "Hi Ada," in security.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "654321" in str(security["Subject"])
    assert "notification settings" not in rendered.data.decode()
    assert security["List-Unsubscribe"] is None


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Jazz <night>", "Gus"),
        ("Концерт органной музыки в соборе: Бах, Гендель и Букстехуде", "Гусь Ünal"),
        ("A very long title " * 8 + "=?utf-8?q?not-an-encoded-word?=", 'Ada "the" Lovelace, Countess'),
        ("Line\r\nBcc: someone@evil.example", "Eve\nBcc: x@evil.example"),
        ("Wörds " * 250, ""),
    ],
)
def test_emails_are_well_formed_mime_whatever_the_text(title: str, name: str) -> None:
    renderer = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
    event = EventSummary(
        event_id="e1",
        title=title,
        start_time=BERLIN_EVENT.start_time,
        end_time=BERLIN_EVENT.end_time,
        time_zone="Europe/Berlin",
        venue="Keller " * 20,
    )
    booking = BookingSummary(booking_id="b1", seats=2, event=event)
    message = content.booking_confirmed(booking, LINKS)
    rendered = renderer.render(message, delivery_id="d-1", to_address="gus@example.com", to_name=name)
    data = rendered.data
    # CRLF line ends only, no 8-bit bytes (no server needs 8BITMIME), headers within 78
    # characters a line, body lines within SMTP's limit.
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    head, _, body = data.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert max(len(line) for line in body.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert not parsed.defects
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]  # type: ignore[attr-defined]
    assert all(not part.defects for part in parsed.walk())
    # Headers decode to what was meant; control characters never start a header of their own.
    assert str(parsed["Subject"]) == message.subject.replace("\r\n", " ")
    assert parsed["Bcc"] is None
    assert parsed["To"].addresses[0].addr_spec == "gus@example.com"
    assert parsed["To"].addresses[0].display_name == " ".join(name.split()).replace("\n", " ")
    assert parsed["Message-ID"] == "<d-1@mail.example>"
    assert parsed["X-Seatmesh-Kind"] == "BOOKING_CONFIRMED"

    # The parts decode to exactly what the templates rendered.
    def lines(part: str) -> str:
        return part.replace("\r\n", "\n").replace("\r", "\n")

    text = lines(parsed.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    html = lines(parsed.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
    values = {"content": message, "name": name, "preferences_link": renderer.preferences_link}
    assert text == lines(renderer._text.render(values))
    # Non-ASCII characters of the HTML part travel as character references.
    assert html == lines(renderer._html.render(values)).encode("ascii", "xmlcharrefreplace").decode()
    # The signature delimiter keeps its trailing space.
    assert "\n-- \nseatmesh" in text


def test_sms_text_is_short() -> None:
    renderer = SmsRenderer()
    booking = BookingSummary(booking_id="b1", seats=1, event=BERLIN_EVENT)
    assert renderer.render(content.booking_confirmed(booking, LINKS)) == (
        "seatmesh: Booking confirmed: Jazz <night> https://seatmesh.example/v1/bookings/b1"
    )
    code = content.verification_code(code="654321", display_name="", expire_time=None, now=datetime.now(UTC))
    assert renderer.render(code) == "654321 is your seatmesh verification code."


def test_addresses_are_checked_before_sending() -> None:
    assert valid_address("a.b+c@example.com")
    assert valid_address('"a b"@example.com')
    assert valid_address("a@[192.0.2.1]")
    assert not valid_address("not an address")
    assert not valid_address("@example.com")
    assert not valid_address("a@b@example.com")
    # Nothing that could smuggle parameters or commands onto the SMTP command line.
    assert not valid_address("a@example.com SIZE=1")
    assert not valid_address("a@example.com>")
    assert not valid_address("a@example.com\r\nRCPT TO:<b@example.com>")
    assert not valid_address("ünï@example.com")


def test_settings_refuse_contradictions() -> None:
    base = {"database_url": "postgresql://x/y"}
    assert NotificationsSettings(**base).smtp_port == 2525
    with pytest.raises(ValidationError, match="exclude each other"):
        NotificationsSettings(**base, smtp_starttls=True, smtp_tls=True)
    with pytest.raises(ValidationError, match="SMS_GATEWAY_URL"):
        NotificationsSettings(**base, sms_provider="http")
    with pytest.raises(ValidationError, match="DELIVERY_LEASE"):
        NotificationsSettings(**base, smtp_timeout=30, delivery_lease=40)
