"""Pure parts of notifications: channels and preferences, retries, reminders, content and templates."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import available_timezones

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import datetimes as hypothesis_datetimes
from pydantic import ValidationError

from seatmesh.notifications.v1 import notifications_pb2 as pb
from seatmesh.users.v1 import bus_pb2 as users_bus
from services.notifications import content
from services.notifications.channels import RecipientRefused
from services.notifications.codes import CodeOpener
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
    format_span,
    format_time,
)
from services.notifications.domain.records import Account, ClaimedDelivery, Contact
from services.notifications.domain.rules import (
    DEFAULT_CHOICE,
    ChannelChoice,
    ReminderOffsets,
    SendDraft,
    configurable_kinds,
    effective_preferences,
    reminder_still_useful,
    reminders_for,
    requested_channels,
    retry_delay,
    unverified_number,
    validate_preferences,
    validate_send,
    welcome_due,
    welcome_key,
)
from services.notifications.mailer import EmailRenderer, valid_address
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import MAX_SMS_LENGTH, SmsRenderer, sms_provider
from services.runtime.errors import ServiceError
from services.runtime.sealing import Sealer

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
    offsets = ReminderOffsets(timedelta(hours=24), timedelta(hours=1), timedelta(minutes=5))
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
        sealed_code=b"\x01sealed bytes",
        display_name="Ada",
        expire_time=datetime(2031, 1, 1, 0, 15, tzinfo=UTC),
        now=datetime(2031, 1, 1, tzinfo=UTC),
    )
    assert Content.from_json(code.to_json()) == code
    # Every field is stored (a new field must not be silently dropped).
    assert set(code.to_json()) == {field.name for field in dataclasses.fields(Content)}
    assert "expires in 15 minutes" in code.body


def test_emails_have_text_and_escaped_html_a_stable_id_and_a_footer_unless_transactional() -> None:
    renderer = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
    booking = BookingSummary(booking_id="b1", seats=1, event=BERLIN_EVENT)
    message = renderer.render(
        content.booking_confirmed(booking, LINKS),
        code="",
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
        sealed_code=b"\x01sealed", display_name="Ada", expire_time=None, now=datetime.now(UTC)
    )
    rendered = renderer.render(
        code, code="654321", delivery_id="d-2", to_address="ada@example.com", to_name=""
    )
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
    rendered = renderer.render(
        message, code="", delivery_id="d-1", to_address="gus@example.com", to_name=name
    )
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
    assert str(parsed["Subject"]) == message.title.replace("\r\n", " ")
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
    values = {
        "content": message,
        "code": "",
        "subject": message.title,
        "name": name,
        "preferences_link": renderer.preferences_link,
    }
    assert text == lines(renderer._text.render(values))
    # Non-ASCII characters of the HTML part travel as character references.
    assert html == lines(renderer._html.render(values)).encode("ascii", "xmlcharrefreplace").decode()
    # The signature delimiter keeps its trailing space.
    assert "\n-- \nseatmesh" in text


def test_sms_text_is_short() -> None:
    renderer = SmsRenderer()
    booking = BookingSummary(booking_id="b1", seats=1, event=BERLIN_EVENT)
    assert renderer.render(content.booking_confirmed(booking, LINKS), code="") == (
        "seatmesh: Booking confirmed: Jazz <night> https://seatmesh.example/v1/bookings/b1"
    )
    code = content.phone_verification_code(
        sealed_code=b"\x01sealed", display_name="", expire_time=None, now=datetime.now(UTC)
    )
    assert renderer.render(code, code="654321") == "654321 is your seatmesh verification code."


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


# -- defect 4 of issue 11: times at the edges of what a datetime can hold -----------------------------

# The case: an event ending in year 9999 in a zone ahead of UTC (its local end is in year
# 10000, which no datetime can hold), and its mirror image at year 1 in a zone behind UTC.
EDGE_EVENTS = [
    EventSummary(
        event_id="e9",
        title="The last party",
        start_time=datetime(9999, 12, 31, 18, 0, tzinfo=UTC),
        end_time=datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
        time_zone="Asia/Tokyo",
    ),
    EventSummary(
        event_id="e1",
        title="The first party",
        start_time=datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        end_time=datetime(1, 1, 1, 3, 0, tzinfo=UTC),
        time_zone="America/New_York",
    ),
]


def _every_message_about(event: EventSummary) -> list[Content]:
    booking = BookingSummary(booking_id="b1", seats=2, event=event, waitlist_position=3)
    change = EventChange(
        changed_fields=["start_time", "end_time"],
        previous_start_time=event.start_time,
        previous_end_time=event.end_time,
    )
    return [
        content.booking_confirmed(booking, LINKS),
        content.request_sent(booking, event.end_time, LINKS),
        content.approval_requested(booking, event.end_time, LINKS),
        content.booking_approved(booking, LINKS),
        content.booking_rejected(booking, None, "", LINKS),
        content.booking_expired(booking, None, LINKS),
        content.booking_waitlisted(booking, LINKS),
        content.booking_promoted(booking, False, LINKS),
        content.booking_cancelled(booking, None, "", LINKS),
        content.guest_cancelled(booking, "", LINKS),
        content.event_updated(event, change, LINKS),
        content.event_cancelled(event, "", LINKS),
        content.reminder(event, Kind.REMINDER_1H, timedelta(hours=1), LINKS),
        content.rate_event(event, LINKS),
        content.organizer_message(event, "Hello", "Soon", LINKS),
    ]


@pytest.mark.parametrize("event", EDGE_EVENTS, ids=["year-9999-east", "year-1-west"])
def test_every_message_about_an_event_at_the_edge_of_time_renders(event: EventSummary) -> None:
    renderer = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
    for message in _every_message_about(event):
        assert Content.from_json(message.to_json()) == message
        renderer.render(message, code="", delivery_id="d-1", to_address="gus@example.com", to_name="Gus")
        SmsRenderer().render(message, code="")
    # What cannot be shown in the event's zone is shown, correctly, in UTC.
    assert EDGE_EVENTS[0].when() == "Friday, 31 December 9999, 18:00–23:00 UTC"
    assert format_time(EDGE_EVENTS[0].end_time, "Asia/Tokyo") == "Friday, 31 December 9999, 23:00 UTC"
    assert format_time(EDGE_EVENTS[0].start_time - timedelta(days=1), "Asia/Tokyo") == (
        "Friday, 31 December 9999, 03:00 JST (Asia/Tokyo)"
    )


@settings(max_examples=300, deadline=None)
@given(
    start=st.one_of(
        hypothesis_datetimes(timezones=st.just(UTC)),
        # The edges, where a zone's offset leaves the range a datetime can hold.
        hypothesis_datetimes(min_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
        hypothesis_datetimes(max_value=datetime(1, 1, 2), timezones=st.just(UTC)),
    ),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
    zone_name=st.sampled_from([*sorted(available_timezones()), "", "Mars/Olympus", "../etc/passwd"]),
)
def test_time_formatting_is_total(start: datetime, length: timedelta, zone_name: str) -> None:
    end = start + length if start <= datetime.max.replace(tzinfo=UTC) - length else start
    assert format_time(start, zone_name)
    assert format_span(start, end, zone_name)


def test_reminders_of_an_event_at_the_start_of_time_are_skipped_not_raised() -> None:
    offsets = ReminderOffsets(timedelta(hours=24), timedelta(hours=1), timedelta(minutes=5))
    start = datetime(1, 1, 1, 0, 30, tzinfo=UTC)
    assert reminders_for(start, datetime(2031, 1, 1, tzinfo=UTC), offsets) == []
    assert reminders_for(start, datetime(1, 1, 1, tzinfo=UTC), offsets) == []


# -- defects 7 and 10 of issue 11: bounded requests ---------------------------------------------------


def test_a_preference_list_longer_than_the_kinds_is_one_problem_not_one_per_entry() -> None:
    # The case: a thousand duplicate entries made a thousand violations (a 1 MB trailer).
    request = pb.NotificationPreferences(kinds=[pb.KindPreference(kind=pb.KIND_WELCOME)] * 1000)
    with pytest.raises(ServiceError) as raised:
        validate_preferences(preference_choices(request), given=True)
    assert [(violation.field, violation.description) for violation in raised.value.violations] == [
        ("preferences.kinds", f"must have at most {len(configurable_kinds())} entries, one per kind")
    ]
    every_kind = [pb.KindPreference(kind=KIND_TO_PROTO[kind]) for kind in configurable_kinds()]
    assert len(
        validate_preferences(preference_choices(pb.NotificationPreferences(kinds=every_kind)), given=True)
    ) == len(every_kind)


def test_a_send_names_more_channels_than_there_are_as_one_problem() -> None:
    request = pb.SendNotificationRequest(
        event_id=str(uuid.uuid4()), title="T", body="B", channels=[pb.CHANNEL_EMAIL] * 1000
    )
    with pytest.raises(ServiceError) as raised:
        validate_send(send_draft(request), is_admin=False)
    assert [violation.field for violation in raised.value.violations] == ["channels"]


@pytest.mark.parametrize(
    ("channels", "longest"),
    [
        ([], 5000),
        ([pb.CHANNEL_IN_APP], 5000),
        ([pb.CHANNEL_EMAIL, pb.CHANNEL_IN_APP], 5000),
        ([pb.CHANNEL_SMS], 160),
        ([pb.CHANNEL_EMAIL, pb.CHANNEL_SMS], 160),
    ],
)
def test_the_body_of_a_send_is_capped_by_its_strictest_channel(channels: list[int], longest: int) -> None:
    def draft(body: str) -> SendDraft:
        request = pb.SendNotificationRequest(
            event_id=str(uuid.uuid4()),
            title="T",
            body=body,
            channels=channels,  # type: ignore[arg-type]
        )
        return send_draft(request)

    assert validate_send(draft("x" * longest), is_admin=False).body == "x" * longest
    with pytest.raises(ServiceError) as raised:
        validate_send(draft("x" * (longest + 1)), is_admin=False)
    [violation] = raised.value.violations
    assert violation.field == "body"
    assert violation.description.endswith("when sent by SMS") == (longest == 160)


def test_an_sms_carries_what_a_sender_wrote_and_never_runs_long() -> None:
    renderer = SmsRenderer()
    message = content.organizer_message(BERLIN_EVENT, "Doors at 17:30", "Bring your ticket.", LINKS)
    assert renderer.render(message, code="") == (
        "seatmesh: Jazz <night>: Doors at 17:30 — Bring your ticket. https://seatmesh.example/v1/events/e1"
    )
    # Whatever the titles, names and bodies (other producers, old rows), one SMS stays short; the
    # link stays whole.
    long_event = dataclasses.replace(BERLIN_EVENT, title="Ü" * 200)
    for long in (
        content.organizer_message(long_event, "T" * 200, "B" * 5000, LINKS),
        content.announcement("T" * 200, "B" * 5000, LINKS),
    ):
        text = renderer.render(long, code="")
        assert len(text) == MAX_SMS_LENGTH
        assert text.endswith("… " + long.link)


# -- defects 5, 7 and 8 of issue 11: who gets what ----------------------------------------------------

SECRET = "unit-test-service-secret-0123456789abcdef"
USER_ID = "0d6f2b0c-3c1b-4c56-9b5e-0a8b8f1e2d3c"


def _claimed(content_: Content, channel: Channel, *, address: str | None = None) -> ClaimedDelivery:
    now = datetime.now(UTC)
    return ClaimedDelivery(
        id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        channel=channel,
        recipient_id=uuid.UUID(USER_ID),
        address=address,
        attempts=1,
        created_at=now,
        content=content_,
        expires_at=None,
    )


@pytest.mark.parametrize(
    ("channel", "message_type"),
    [(Channel.EMAIL, users_bus.VerificationCodeIssued), (Channel.SMS, users_bus.PhoneCodeIssued)],
)
def test_a_code_opens_only_for_its_user_on_its_channel(channel: Channel, message_type: type) -> None:
    # Sealed as users seals it: the purpose is the sealed field's name, the context the user's id.
    purpose = f"{message_type.DESCRIPTOR.full_name}.sealed_code"
    sealed = Sealer(SECRET, purpose).seal("493817", USER_ID)
    compose = content.verification_code if channel is Channel.EMAIL else content.phone_verification_code
    message = compose(sealed_code=sealed, display_name="Ada", expire_time=None, now=datetime.now(UTC))
    # At rest the content holds the sealed bytes only.
    assert "493817" not in json.dumps(message.to_json())
    opener = CodeOpener(SECRET)
    assert opener.open(_claimed(Content.from_json(message.to_json()), channel)) == "493817"
    other_channel = Channel.SMS if channel is Channel.EMAIL else Channel.EMAIL
    someone_else = dataclasses.replace(_claimed(message, channel), recipient_id=uuid.uuid4())
    for unopenable, opener_ in (
        (someone_else, opener),
        (_claimed(message, other_channel), opener),
        (_claimed(message, channel), CodeOpener(SECRET + "x")),
    ):
        with pytest.raises(RecipientRefused) as refused:
            opener_.open(unopenable)
        assert refused.value.permanent
    assert opener.open(_claimed(content.announcement("T", "B", LINKS), channel)) == ""


def test_an_sms_goes_only_to_a_verified_number_or_the_number_being_verified() -> None:
    text = _claimed(content.announcement("T", "B", LINKS), Channel.SMS)
    unverified = Contact(
        user_id=USER_ID, email="a@example.com", display_name="A", phone="+4917", phone_verified=False
    )
    verified = dataclasses.replace(unverified, phone_verified=True)
    assert unverified_number(text, unverified)
    assert not unverified_number(text, verified)
    code = _claimed(content.announcement("T", "B", LINKS), Channel.SMS, address="+4918")
    assert not unverified_number(code, unverified)


def test_an_account_is_welcomed_once_registered_and_verified() -> None:
    assert welcome_due(Account(USER_ID, organizer=False, email_verified=True))
    assert welcome_due(Account(USER_ID, organizer=True, email_verified=True))
    assert not welcome_due(Account(USER_ID, organizer=True, email_verified=False))
    # Registered before this service waited for verification: welcomed back then.
    assert not welcome_due(Account(USER_ID, organizer=None, email_verified=True))
    assert welcome_key(USER_ID) == welcome_key(USER_ID) != welcome_key(str(uuid.uuid4()))


@pytest.mark.parametrize("dev_mode", [False, True])
async def test_the_console_sms_provider_logs_a_code_only_in_dev_mode(
    dev_mode: bool, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """`console` is the default provider (also in the Kubernetes base): outside development it must
    not write codes where logs go."""
    provider = sms_provider(NotificationsSettings(database_url="postgresql://x/y", dev_mode=dev_mode))
    with caplog.at_level(logging.INFO):
        await provider.send(
            delivery_id="d-1", to="+4917", text="493817 is your seatmesh verification code.", code="493817"
        )
        await provider.send(delivery_id="d-2", to="+4917", text="seatmesh: Booking confirmed", code="")
    shown = capsys.readouterr().out + "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records
    )
    assert ("493817" in shown) == dev_mode
    assert "seatmesh: Booking confirmed" in shown
