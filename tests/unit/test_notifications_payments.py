"""Pure parts of the payment notifications: what the receipt, the refund notices, the "payment due"
message and the reminder before a hold ends say, money in each currency's own minor units, the
bus messages they come from, and the rules of when a guest is reminded to pay."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.type import money_pb2

from seatmesh.bookings.v1 import bookings_pb2
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from seatmesh.events.v1 import events_pb2
from seatmesh.notifications.v1 import notifications_pb2 as pb
from seatmesh.payments.v1 import bus_pb2 as payments_bus
from seatmesh.payments.v1 import payments_pb2
from services.notifications import content, convert
from services.notifications.content import Links
from services.notifications.domain.kinds import (
    BookingState,
    Kind,
    PaymentRefusal,
    Provider,
    RefundInitiator,
)
from services.notifications.domain.messages import (
    BookingSummary,
    Content,
    EventSummary,
    PaymentDue,
    format_span,
    refund_policy_text,
)
from services.notifications.domain.records import PaymentNews, RefundNews
from services.notifications.domain.rules import (
    ReminderOffsets,
    awaits_payment,
    configurable_kinds,
    payment_due_key,
    payment_reminder_key,
    payment_reminder_still_useful,
    payment_reminder_time,
    receipt_key,
    refund_key,
    refused_payment_key,
    validate_preferences,
)
from services.notifications.mailer import EmailRenderer
from services.notifications.sms import MAX_SMS_LENGTH, SmsRenderer
from services.runtime.errors import ServiceError
from services.runtime.money import Amount
from services.runtime.timestamps import timestamp

LINKS = Links("https://seatmesh.example")
START = datetime(2031, 3, 5, 18, 0, tzinfo=UTC)  # 19:00 CET
EVENT = EventSummary(
    event_id="e1",
    title="Jazz <night>",
    start_time=START,
    end_time=START + timedelta(hours=3),
    time_zone="Europe/Berlin",
    city="Berlin",
    venue="A-Trane",
)
# The event as a payment knows it: no place, no end.
PAYMENT_EVENT = EventSummary(
    event_id="e1", title="Jazz <night>", start_time=START, end_time=START, time_zone="Europe/Berlin"
)
HOLD_END = datetime(2031, 3, 1, 12, 15, tzinfo=UTC)  # 13:15 CET
OFFSETS = ReminderOffsets(timedelta(hours=24), timedelta(hours=1), timedelta(minutes=5))


EUROS_50 = Amount(5000, "EUR")


def _payment(
    *,
    amount: Amount = EUROS_50,
    captured: Amount | None = None,
    refunded: Amount | None = None,
    provider: Provider | None = Provider.STRIPE,
    checkout_url: str = "https://checkout.stripe.example/c/pay/cs_1",
    refund_hours: int = 24,
) -> PaymentNews:
    return PaymentNews(
        payment_id="7d3c6a8e-0000-4000-8000-000000000001",
        booking_id="b1",
        buyer_id="u1",
        seats=2,
        amount=amount,
        captured=captured or amount,
        refunded=refunded or Amount(0, amount.currency),
        provider=provider,
        checkout_url=checkout_url,
        hold_expire_time=HOLD_END,
        refund_hours_before_start=refund_hours,
        full_refund_deadline=START - timedelta(hours=refund_hours),
        event=PAYMENT_EVENT,
    )


def _due(**fields: Any) -> PaymentDue:
    due = _payment(**fields).due()
    assert due is not None
    return due


def _text(message: Content) -> str:
    return "\n".join([message.title, message.body])


def _email(message: Content) -> email.message.EmailMessage:
    renderer = EmailRenderer(sender="seatmesh <no-reply@mail.example>", public_url="https://seatmesh.example")
    rendered = renderer.render(
        message, code="", delivery_id="d-1", to_address="ada@example.com", to_name="Ada"
    )
    parsed = email.message_from_bytes(rendered.data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _plain(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


# -- the contract -----------------------------------------------------------------------------------


def test_payment_kinds_are_in_the_contract_and_have_preferences_like_the_others() -> None:
    for kind, number in (
        (Kind.PAYMENT_DUE, pb.KIND_PAYMENT_DUE),
        (Kind.PAYMENT_REMINDER, pb.KIND_PAYMENT_REMINDER),
        (Kind.PAYMENT_RECEIPT, pb.KIND_PAYMENT_RECEIPT),
        (Kind.PAYMENT_REFUNDED, pb.KIND_PAYMENT_REFUNDED),
    ):
        assert convert.KIND_TO_PROTO[kind] == number
        assert convert.KIND_FROM_PROTO[number] is kind
        assert kind in configurable_kinds()
    # A guest may choose where receipts go, like any other kind; security mail still has no choice.
    chosen = validate_preferences(
        convert.preference_choices(
            pb.NotificationPreferences(
                kinds=[pb.KindPreference(kind=pb.KIND_PAYMENT_RECEIPT, in_app=True, email=False, sms=True)]
            )
        ),
        given=True,
    )
    assert chosen[Kind.PAYMENT_RECEIPT].channels() == {"IN_APP", "SMS"}
    with pytest.raises(ServiceError):
        validate_preferences(
            convert.preference_choices(
                pb.NotificationPreferences(kinds=[pb.KindPreference(kind=pb.KIND_VERIFICATION_CODE)])
            ),
            given=True,
        )


def _details(amount: money_pb2.Money | None = None) -> payments_bus.PaymentDetails:
    return payments_bus.PaymentDetails(
        payment_id="p-1",
        booking_id="b-1",
        event_id="e-1",
        buyer_id="u-1",
        organizer_id="o-1",
        event_title="Noh at dusk",
        seats=3,
        amount=amount or money_pb2.Money(currency_code="JPY", units=9000),
        captured=money_pb2.Money(currency_code="JPY", units=9000),
        refunded=money_pb2.Money(currency_code="JPY", units=3000),
        provider="stripe",
        refund_policy=events_pb2.RefundPolicy(full_refund_until_hours_before_start=48),
        full_refund_deadline=timestamp(START - timedelta(hours=48)),
        event_start_time=timestamp(START),
        event_time_zone="Asia/Tokyo",
        checkout_url="https://checkout.example/cs_9",
        hold_expire_time=timestamp(HOLD_END),
    )


def test_a_payment_on_the_bus_becomes_minor_units_of_its_currency() -> None:
    news = convert.payment_news(_details())
    assert news.amount == Amount(9000, "JPY")
    assert news.refunded == Amount(3000, "JPY")
    assert news.provider is Provider.STRIPE
    assert news.refund_hours_before_start == 48
    assert news.event == EventSummary("e-1", "Noh at dusk", START, START, "Asia/Tokyo")
    assert news.due() == PaymentDue(
        "p-1", "b-1", 3, Amount(9000, "JPY"), "https://checkout.example/cs_9", HOLD_END, news.event
    )
    # A provider this version does not know, amounts not given, no hold.
    bare = payments_bus.PaymentDetails(
        payment_id="p-2", amount=money_pb2.Money(currency_code="KWD", units=1, nanos=250_000_000)
    )
    other = convert.payment_news(bare)
    assert (other.amount, other.captured, other.provider, other.due()) == (
        Amount(1250, "KWD"),
        Amount(0, "KWD"),
        None,
        None,
    )
    # An amount no currency can hold is refused, never rounded onto a receipt.
    with pytest.raises(ServiceError) as refused:
        convert.payment_news(
            _details(amount=money_pb2.Money(currency_code="JPY", units=1, nanos=500_000_000))
        )
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_refunds_and_refusals_on_the_bus() -> None:
    message = payments_bus.PaymentRefunded(
        payment=_details(),
        refund=payments_pb2.Refund(
            id="r-1",
            amount=money_pb2.Money(currency_code="JPY", units=3000),
            reason="rain",
            initiated_by=payments_pb2.Refund.ORGANIZER,
        ),
    )
    assert convert.refund_news(message, "JPY") == RefundNews(
        "r-1", Amount(3000, "JPY"), "rain", RefundInitiator.ORGANIZER
    )
    unknown = payments_bus.PaymentRefunded(refund=payments_pb2.Refund(id="r-2", initiated_by=99))  # type: ignore[arg-type]
    assert convert.refund_news(unknown, "EUR").initiated_by is None
    refused = bookings_bus.BookingPaymentRefused(
        payment_id="p-1",
        reason=bookings_bus.BookingPaymentRefused.SOLD_OUT,
        amount=money_pb2.Money(currency_code="EUR", units=25),
    )
    assert convert.payment_refusal(refused) is PaymentRefusal.SOLD_OUT
    assert convert.refused_amount(refused) == Amount(2500, "EUR")
    awaiting = bookings_bus.BookingDetails(state=bookings_pb2.Booking.AWAITING_PAYMENT)
    assert convert.booking_news(awaiting).state is BookingState.AWAITING_PAYMENT


# -- what each message says -------------------------------------------------------------------------


def test_the_receipt_says_what_was_bought_for_how_much_and_the_refund_policy() -> None:
    receipt = content.payment_receipt(_payment(), EVENT, HOLD_END - timedelta(minutes=3), None, LINKS)
    assert receipt.kind is Kind.PAYMENT_RECEIPT
    assert receipt.title == "Receipt: Jazz <night>"
    assert receipt.paragraphs == (
        "Thank you: we received your payment of 50.00 EUR for 2 seats at Jazz <night>.",
        "Refund policy: If you cancel at least 24 hours before the start, that is until Tuesday, "
        "4 March 2031, 19:00 CET (Europe/Berlin), you get everything back; after that, nothing.",
    )
    assert dict(receipt.facts) == {
        "Event": "Jazz <night>",
        "When": "Wednesday, 5 March 2031, 19:00–22:00 CET (Europe/Berlin)",
        "Where": "A-Trane, Berlin",
        "Seats": "2 seats",
        "Paid": "50.00 EUR",
        "On": "Saturday, 1 March 2031, 13:12 CET (Europe/Berlin)",
        "With": "Card or another method, at Stripe's checkout",
        "Payment": "7d3c6a8e-0000-4000-8000-000000000001",
    }
    assert receipt.link == "https://seatmesh.example/v1/bookings/b1"
    # By email: the same, with the event's title escaped in HTML and the facts aligned in text.
    mail = _email(receipt)
    assert mail["Subject"] == "Receipt: Jazz <night>"
    assert "Jazz &lt;night&gt;" in mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    plain = _plain(mail)
    assert "\nPaid:    50.00 EUR" in plain
    assert "\nPayment: 7d3c6a8e-0000-4000-8000-000000000001" in plain
    # Manual payments say who was paid.
    manual = content.payment_receipt(_payment(provider=Provider.MANUAL), EVENT, None, None, LINKS)
    assert ("With", "Bank transfer or cash, to the organizer") in manual.facts
    assert not any(label == "On" for label, _ in manual.facts)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Amount(300_000, "JPY"), "300,000 JPY"),
        (Amount(1, "JPY"), "1 JPY"),
        (Amount(123_456_789, "EUR"), "1,234,567.89 EUR"),
        (Amount(5, "EUR"), "0.05 EUR"),
        (Amount(1_250, "KWD"), "1.250 KWD"),
    ],
)
def test_amounts_are_shown_in_the_currencys_own_minor_units(amount: Amount, shown: str) -> None:
    receipt = content.payment_receipt(_payment(amount=amount), EVENT, None, None, LINKS)
    assert (
        receipt.paragraphs[0]
        == f"Thank you: we received your payment of {shown} for 2 seats at Jazz <night>."
    )
    assert ("Paid", shown) in receipt.facts
    refund = content.payment_refunded(
        _payment(amount=amount),
        RefundNews("r1", amount, "", RefundInitiator.EVENT_CANCELLATION),
        EVENT,
        LINKS,
    )
    assert refund.title == f"Refund of {shown}: Jazz <night>"


def test_a_receipt_for_a_late_payment_says_what_happens_next() -> None:
    late = content.payment_receipt(_payment(), EVENT, None, BookingState.EXPIRED, LINKS)
    assert late.paragraphs[1] == (
        "It arrived after the hold on your seats had ended. If the seats are still free, your booking "
        "is confirmed; if not, all of it is refunded. We'll tell you which."
    )
    ended = content.payment_receipt(_payment(), EVENT, None, BookingState.CANCELLED, LINKS)
    assert ended.paragraphs[1] == "It arrived after your booking had ended, so all of it is refunded."
    on_time = content.payment_receipt(_payment(), EVENT, None, BookingState.AWAITING_PAYMENT, LINKS)
    assert len(on_time.paragraphs) == 2


def test_the_refund_policy_in_words() -> None:
    assert refund_policy_text(0, START, "Europe/Berlin") == (
        "If you cancel before the event starts, you get everything back; after that, nothing."
    )
    assert refund_policy_text(48, START - timedelta(hours=48), "Asia/Tokyo") == (
        "If you cancel at least 2 days before the start, that is until Tuesday, 4 March 2031, "
        "03:00 JST (Asia/Tokyo), you get everything back; after that, nothing."
    )


def test_refund_notices_say_how_much_of_what_was_paid_and_why() -> None:
    paid = Amount(5000, "EUR")
    # The organizer gives part back.
    part = content.payment_refunded(
        _payment(refunded=Amount(2000, "EUR")),
        RefundNews("r1", Amount(2000, "EUR"), "the support act cancelled", RefundInitiator.ORGANIZER),
        EVENT,
        LINKS,
    )
    assert part.kind is Kind.PAYMENT_REFUNDED
    assert part.title == "Refund of 20.00 EUR: Jazz <night>"
    assert part.paragraphs == (
        "The organizer gave you money back.",
        "Part of your payment is refunded: 20.00 EUR of the 50.00 EUR you paid.",
        "Reason given: the support act cancelled",
        "It goes back to the card or account you paid with; your bank may take a few days to show it.",
    )
    assert ("Refund", "20.00 EUR") in part.facts
    assert ("Paid", "50.00 EUR") in part.facts
    # Another part later: the total so far is said.
    second = content.payment_refunded(
        _payment(refunded=Amount(3000, "EUR")),
        RefundNews("r2", Amount(1000, "EUR"), "", RefundInitiator.ADMIN),
        EVENT,
        LINKS,
    )
    assert second.paragraphs[:2] == (
        "An administrator gave you money back.",
        "Part of your payment is refunded: 10.00 EUR of the 50.00 EUR you paid "
        "(30.00 EUR refunded in all so far).",
    )
    # The rest, then everything at once.
    rest = content.payment_refunded(
        _payment(refunded=paid),
        RefundNews("r3", Amount(2000, "EUR"), "", RefundInitiator.ADMIN),
        EVENT,
        LINKS,
    )
    assert (
        rest.paragraphs[1]
        == "The rest of your payment, 20.00 EUR, is refunded: all of the 50.00 EUR you paid."
    )
    whole = content.payment_refunded(
        _payment(refunded=paid, provider=Provider.MANUAL),
        RefundNews("r4", paid, "storm", RefundInitiator.EVENT_CANCELLATION),
        EVENT,
        LINKS,
    )
    assert whole.paragraphs == (
        "The event was cancelled.",
        "All of your payment, 50.00 EUR, is refunded.",
        "Reason given: storm",
        "The organizer hands it back the way you paid them.",
    )
    # A guest's own cancellation is not quoted back to them.
    guest = content.payment_refunded(
        _payment(refunded=paid),
        RefundNews("r5", paid, "cancelled by the guest", RefundInitiator.GUEST_CANCELLATION),
        EVENT,
        LINKS,
    )
    assert guest.paragraphs[0] == "You cancelled in time for a full refund under the event's refund policy."
    assert not any(paragraph.startswith("Reason given") for paragraph in guest.paragraphs)


def test_a_payment_that_could_not_be_seated_says_so_plainly() -> None:
    booking = BookingSummary(booking_id="b1", seats=2, event=EVENT)
    refused = content.payment_refused(booking, PaymentRefusal.SOLD_OUT, Amount(300_000, "JPY"), "p1", LINKS)
    assert refused.kind is Kind.PAYMENT_REFUNDED
    assert refused.title == "Refund of 300,000 JPY: Jazz <night>"
    assert refused.paragraphs == (
        "Your payment arrived after the hold on your seats had ended, and the seats had gone to other "
        "guests meanwhile, so we could not seat you.",
        "All of your payment, 300,000 JPY, is refunded.",
    )
    for reason in PaymentRefusal:
        said = content.payment_refused(booking, reason, Amount(100, "EUR"), "p1", LINKS).paragraphs[0]
        assert said != "We could not keep your payment."
    assert content.payment_refused(booking, None, Amount(100, "EUR"), "p1", LINKS).paragraphs[0] == (
        "We could not keep your payment."
    )
    # The same refund told by payments (if its news comes first) says why in payments' words.
    told = content.payment_refunded(
        _payment(refunded=Amount(5000, "EUR")),
        RefundNews(
            "r1",
            Amount(5000, "EUR"),
            "paid after the hold ended, and the seats had gone to others",
            RefundInitiator.PAYMENT_REFUSED,
        ),
        EVENT,
        LINKS,
    )
    assert told.paragraphs[:2] == (
        "We could not keep your payment: paid after the hold ended, and the seats had gone to others.",
        "All of your payment, 50.00 EUR, is refunded.",
    )
    assert refused_payment_key("p1") != refund_key("r1")


def test_a_booking_waiting_for_its_payment_is_told_where_and_until_when() -> None:
    due = content.payment_due(_due(), EVENT, LINKS)
    assert due.kind is Kind.PAYMENT_DUE
    assert due.title == "Payment due: Jazz <night>"
    assert due.paragraphs == (
        "2 seats at Jazz <night> are held for you until Saturday, 1 March 2031, 13:15 CET "
        "(Europe/Berlin). Pay 50.00 EUR by then to keep them; after that the seats are released.",
        "Pay on the checkout page linked below; if it has closed, open your booking for a new one.",
    )
    assert (due.link, due.action) == ("https://checkout.stripe.example/c/pay/cs_1", "Pay now")
    assert ("Pay by", "Saturday, 1 March 2031, 13:15 CET (Europe/Berlin)") in due.facts
    assert due.expires_at == HOLD_END
    # Manual payments: pay the organizer, quoting the payment's number.
    manual = content.payment_due(_due(checkout_url="", provider=Provider.MANUAL), EVENT, LINKS)
    assert manual.paragraphs[1] == (
        "Pay the organizer by bank transfer or in cash, as the event describes, quoting payment number "
        "7d3c6a8e-0000-4000-8000-000000000001; the booking is confirmed once the organizer sees the money."
    )
    assert (manual.link, manual.action) == ("https://seatmesh.example/v1/bookings/b1", "View your booking")
    one_seat = content.payment_due(
        PaymentDue("p", "b", 1, Amount(3000, "JPY"), "", HOLD_END, PAYMENT_EVENT), PAYMENT_EVENT, LINKS
    )
    assert one_seat.paragraphs[0].startswith("1 seat at Jazz <night> is held for you until")
    assert "Pay 3,000 JPY by then to keep it;" in one_seat.paragraphs[0]


def test_the_reminder_before_the_hold_ends() -> None:
    reminder = content.payment_reminder(_due(), PAYMENT_EVENT, timedelta(minutes=5), LINKS)
    assert reminder.kind is Kind.PAYMENT_REMINDER
    assert reminder.title == "5 minutes left to pay: Jazz <night>"
    assert reminder.paragraphs[0] == (
        "Your hold on 2 seats at Jazz <night> ends Saturday, 1 March 2031, 13:15 CET (Europe/Berlin) "
        "and we have not received your payment yet. Pay 50.00 EUR before then, or the seats are released."
    )
    # Only the start of an event a payment describes is known: it is a moment, not a span.
    assert ("When", "Wednesday, 5 March 2031, 19:00 CET (Europe/Berlin)") in reminder.facts
    assert format_span(START, START, "Europe/Berlin") == "Wednesday, 5 March 2031, 19:00 CET (Europe/Berlin)"
    assert reminder.expires_at == HOLD_END
    assert reminder.link == "https://checkout.stripe.example/c/pay/cs_1"


def test_a_paid_booking_whose_hold_ran_out_is_told_that_nothing_was_charged() -> None:
    booking = BookingSummary(booking_id="b1", seats=2, event=EVENT)
    expired = content.booking_expired(booking, BookingState.AWAITING_PAYMENT, LINKS)
    assert expired.title == "Time to pay ran out: Jazz <night>"
    assert expired.paragraphs[0] == (
        "Your hold on the seats ended before your payment arrived, so the seats were released. "
        "Nothing was charged."
    )
    assert content.booking_expired(booking, BookingState.AWAITING_APPROVAL, LINKS).title == (
        "Request expired: Jazz <night>"
    )


def test_every_payment_message_survives_storage_and_renders_on_every_channel() -> None:
    booking = BookingSummary(booking_id="b1", seats=2, event=EVENT)
    long_title = EventSummary("e1", "A" * 400, START, START, "Europe/Berlin")
    for event in (EVENT, long_title):
        messages = [
            content.payment_due(_due(), event, LINKS),
            content.payment_reminder(_due(), event, timedelta(minutes=5), LINKS),
            content.payment_receipt(_payment(), event, HOLD_END, BookingState.EXPIRED, LINKS),
            content.payment_refunded(
                _payment(), RefundNews("r", Amount(1, "EUR"), "x", RefundInitiator.ORGANIZER), event, LINKS
            ),
            content.payment_refused(
                BookingSummary("b1", 2, event), PaymentRefusal.BOOKED_AGAIN, Amount(1, "EUR"), "p", LINKS
            ),
        ]
        for message in messages:
            assert Content.from_json(message.to_json()) == message
            assert _plain(_email(message))
            assert len(SmsRenderer().render(message, code="")) <= MAX_SMS_LENGTH
    assert booking.event is EVENT


# -- rules ------------------------------------------------------------------------------------------


def test_a_guest_is_reminded_before_the_hold_ends_only_if_there_is_time() -> None:
    opened = HOLD_END - timedelta(minutes=15)
    assert payment_reminder_time(HOLD_END, opened, OFFSETS) == HOLD_END - timedelta(minutes=5)
    # A hold shorter than the offset: the guest was just told, nothing to remind of.
    assert payment_reminder_time(HOLD_END, HOLD_END - timedelta(minutes=4), OFFSETS) is None
    assert payment_reminder_time(HOLD_END, HOLD_END - timedelta(minutes=5), OFFSETS) is None


@pytest.mark.parametrize(
    ("state", "waits"),
    [
        (None, True),
        (BookingState.AWAITING_PAYMENT, True),
        # Promoted or approved, and the news of it has not come yet.
        (BookingState.WAITLISTED, True),
        (BookingState.AWAITING_APPROVAL, True),
        (BookingState.CONFIRMED, False),
        (BookingState.EXPIRED, False),
        (BookingState.CANCELLED, False),
        (BookingState.REJECTED, False),
    ],
)
def test_who_still_waits_for_a_payment(state: BookingState | None, waits: bool) -> None:
    assert awaits_payment(state) is waits
    now = HOLD_END - timedelta(minutes=5)
    assert payment_reminder_still_useful(state, HOLD_END, now) is waits
    # Never once the hold has ended.
    assert payment_reminder_still_useful(state, HOLD_END, HOLD_END) is False


def test_payment_messages_are_once_per_payment_hold_and_refund() -> None:
    later_hold = HOLD_END + timedelta(minutes=15)
    assert payment_due_key("b1", HOLD_END) == payment_due_key("b1", HOLD_END)
    assert payment_due_key("b1", HOLD_END) != payment_due_key("b1", later_hold)
    assert payment_reminder_key("b1", HOLD_END) != payment_due_key("b1", HOLD_END)
    assert receipt_key("p1") != receipt_key("p2")
    assert refund_key("r1") != refund_key("r2")


def test_what_a_payment_reminder_keeps_survives_storage() -> None:
    due = _due(amount=Amount(1_250, "KWD"))
    assert PaymentDue.from_json(due.to_json()) == due
