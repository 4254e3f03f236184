"""What each kind of notification says: a `Content` composed from what happened (no I/O).

Composed once, when the trigger is handled, and stored with the message (see domain/messages.py).
Times are shown in the event's own time zone, links start at SEATMESH_PUBLIC_URL.

Each composer spells its message out in full: they are alike in shape and differ in words, and a
message is read and changed as a whole, so they deliberately share no template of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.domain.kinds import (
    BookingState,
    Canceller,
    Kind,
    PaymentRefusal,
    Provider,
    RefundInitiator,
    RejectionCause,
)
from services.notifications.domain.messages import (
    BookingSummary,
    Content,
    EventChange,
    EventSummary,
    PaymentDue,
    describe_offset,
    format_span,
    format_time,
    refund_policy_text,
    seats_text,
)
from services.notifications.domain.records import PaymentNews, RefundNews
from services.runtime.money import Amount


@dataclass(frozen=True)
class Links:
    """Where things are on the public edge, for the links in messages."""

    public_url: str

    def _url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    def events(self) -> str:
        return self._url("/v1/events")

    def event(self, event_id: str) -> str:
        return self._url(f"/v1/events/{event_id}")

    def booking(self, booking_id: str) -> str:
        return self._url(f"/v1/bookings/{booking_id}")

    def my_bookings_of(self, event_id: str) -> str:
        return self._url(f"/v1/bookings?eventId={event_id}")

    def notifications(self) -> str:
        return self._url("/v1/notifications")

    def preferences(self) -> str:
        return self._url("/v1/notifications/preferences")


# -- users ------------------------------------------------------------------------------------------


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


# -- bookings ---------------------------------------------------------------------------------------


def booking_confirmed(booking: BookingSummary, links: Links) -> Content:
    return Content(
        kind=Kind.BOOKING_CONFIRMED,
        title=f"Booking confirmed: {booking.event.title}",
        paragraphs=(f"You're in: {seats_text(booking.seats)} for {booking.event.title}.",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def request_sent(booking: BookingSummary, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" The host has until {format_time(expire_time, booking.event.time_zone)} to answer."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.BOOKING_AWAITING_APPROVAL,
        title=f"Request sent: {booking.event.title}",
        paragraphs=(
            f"Your request for {seats_text(booking.seats)} is waiting for the host's approval; "
            f"the seats are held for you meanwhile.{until}",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your request",
    )


def approval_requested(booking: BookingSummary, expire_time: datetime | None, links: Links) -> Content:
    until = (
        f" Answer before {format_time(expire_time, booking.event.time_zone)}, or the request expires "
        "and the seats are released."
        if expire_time
        else ""
    )
    return Content(
        kind=Kind.APPROVAL_REQUESTED,
        title=f"New booking request: {booking.event.title}",
        paragraphs=(f"A guest asks for {seats_text(booking.seats)} at {booking.event.title}.{until}",),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="Approve or reject",
    )


def booking_approved(booking: BookingSummary, links: Links) -> Content:
    return Content(
        kind=Kind.BOOKING_APPROVED,
        title=f"Request approved: {booking.event.title}",
        paragraphs=(
            f"The host approved your request: {seats_text(booking.seats)} for {booking.event.title}.",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


REJECTION_CAUSES = {
    RejectionCause.SOLD_OUT: "The event is sold out.",
    RejectionCause.HOST_REJECTED: "The host declined your request.",
    RejectionCause.EVENT_NOT_BOOKABLE: "The event is no longer open for booking.",
}


def booking_rejected(
    booking: BookingSummary, cause: RejectionCause | None, reason: str, links: Links
) -> Content:
    known = REJECTION_CAUSES.get(cause) if cause is not None else None
    paragraphs = [known or "Your booking could not be accepted."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.BOOKING_REJECTED,
        title=f"Booking not accepted: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.event(booking.event.event_id),
        action="See the event",
    )


def booking_expired(booking: BookingSummary, previous_state: BookingState | None, links: Links) -> Content:
    if previous_state is BookingState.AWAITING_PAYMENT:
        return Content(
            kind=Kind.BOOKING_EXPIRED,
            title=f"Time to pay ran out: {booking.event.title}",
            paragraphs=(
                "Your hold on the seats ended before your payment arrived, so the seats were released. "
                "Nothing was charged.",
                "A payment already on its way still counts if seats are free when it arrives; "
                "otherwise all of it is refunded.",
            ),
            facts=booking.facts(),
            link=links.event(booking.event.event_id),
            action="See the event",
        )
    what = (
        "Your place on the waitlist expired: no seats became free before the event."
        if previous_state is BookingState.WAITLISTED
        else "The host did not answer your request in time, so it expired and the seats were released."
    )
    return Content(
        kind=Kind.BOOKING_EXPIRED,
        title=f"Request expired: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_waitlisted(booking: BookingSummary, links: Links) -> Content:
    position = f" You are number {booking.waitlist_position} in line." if booking.waitlist_position else ""
    return Content(
        kind=Kind.BOOKING_WAITLISTED,
        title=f"On the waitlist: {booking.event.title}",
        paragraphs=(
            f"{booking.event.title} is sold out, so you are on the waitlist for "
            f"{seats_text(booking.seats)}.{position} If seats free up, they go to you automatically "
            "and we'll tell you.",
        ),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def booking_promoted(booking: BookingSummary, awaiting_approval: bool, links: Links) -> Content:
    what = (
        "Seats freed up and are held for you; the host still has to approve your request."
        if awaiting_approval
        else f"Seats freed up: you're in with {seats_text(booking.seats)}."
    )
    return Content(
        kind=Kind.BOOKING_PROMOTED,
        title=f"Off the waitlist: {booking.event.title}",
        paragraphs=(what,),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


CANCELLERS = {
    Canceller.GUEST: "You cancelled this booking.",
    Canceller.HOST: "The host cancelled your booking.",
    Canceller.ADMIN: "An administrator cancelled your booking.",
    Canceller.EVENT_CANCELLED: "The event was cancelled.",
}


def booking_cancelled(
    booking: BookingSummary, cancelled_by: Canceller | None, reason: str, links: Links
) -> Content:
    known = CANCELLERS.get(cancelled_by) if cancelled_by is not None else None
    paragraphs = [known or "Your booking was cancelled."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.BOOKING_CANCELLED,
        title=f"Booking cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )


def guest_cancelled(booking: BookingSummary, reason: str, links: Links) -> Content:
    paragraphs = [
        f"A guest cancelled their booking of {seats_text(booking.seats)}; the seats are free again."
    ]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.GUEST_CANCELLED,
        title=f"A guest cancelled: {booking.event.title}",
        paragraphs=tuple(paragraphs),
        facts=booking.facts(),
        link=links.booking(booking.booking_id),
        action="View the booking",
    )


# -- events -----------------------------------------------------------------------------------------


def describe_changes(event: EventSummary, change: EventChange) -> list[str]:
    """One line per change guests care about: 'Time: <before> → <after>'."""
    fields = set(change.changed_fields)
    lines = []
    if fields & {"start_time", "end_time"}:
        before_start = change.previous_start_time or event.start_time
        before_end = change.previous_end_time or event.end_time
        lines.append(f"Time: {format_span(before_start, before_end, event.time_zone)} → {event.when()}")
    if "venue" in fields:
        lines.append(f"Venue: {change.previous_venue or '(none)'} → {event.venue or '(none)'}")
    if "city" in fields:
        lines.append(f"City: {change.previous_city or '(none)'} → {event.city or '(none)'}")
    if "time_zone" in fields and not fields & {"start_time", "end_time"}:
        lines.append(f"Time zone: now {event.time_zone}")
    known = {"start_time", "end_time", "venue", "city", "time_zone"}
    for name in sorted(fields - known):
        lines.append(f"{name.replace('_', ' ').capitalize()} changed")
    return lines


def event_updated(event: EventSummary, change: EventChange, links: Links) -> Content:
    changes = describe_changes(event, change)
    return Content(
        kind=Kind.EVENT_UPDATED,
        title=f"Event changed: {event.title}",
        paragraphs=(
            f"The organizer changed {event.title}:",
            "\n".join(changes) if changes else "Some details changed.",
        ),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def event_cancelled(event: EventSummary, reason: str, links: Links) -> Content:
    paragraphs = [f"{event.title} has been cancelled; your booking is cancelled and its seats released."]
    if reason:
        paragraphs.append(f"Reason given: {reason}")
    return Content(
        kind=Kind.EVENT_CANCELLED,
        title=f"Event cancelled: {event.title}",
        paragraphs=tuple(paragraphs),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def reminder(event: EventSummary, kind: Kind, offset: timedelta, links: Links) -> Content:
    return Content(
        kind=kind,
        title=f"Reminder: {event.title} starts in {describe_offset(offset)}",
        paragraphs=(
            f"{event.title} starts {format_time(event.start_time, event.time_zone)}. See you there!",
        ),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
        # Sent late only while the event hasn't started.
        expires_at=event.start_time,
    )


def rate_event(event: EventSummary, links: Links) -> Content:
    return Content(
        kind=Kind.RATE_EVENT,
        title=f"How was {event.title}?",
        paragraphs=(
            f"Thanks for coming to {event.title}. Rate the event and its host from your booking; "
            "it helps other guests choose.",
        ),
        facts=event.facts(),
        link=links.my_bookings_of(event.event_id),
        action="Rate your event",
    )


def organizer_message(event: EventSummary, title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.ORGANIZER_MESSAGE,
        title=f"{event.title}: {title}",
        paragraphs=(body,),
        facts=event.facts(),
        link=links.event(event.event_id),
        action="See the event",
    )


def announcement(title: str, body: str, links: Links) -> Content:
    return Content(
        kind=Kind.ANNOUNCEMENT,
        title=title,
        paragraphs=(body,),
        link=links.notifications(),
        action="Open your notifications",
    )


# -- payments ---------------------------------------------------------------------------------------


def _where_to_pay(due: PaymentDue) -> str:
    if due.checkout_url:
        return "Pay on the checkout page linked below; if it has closed, open your booking for a new one."
    return (
        f"Pay the organizer by bank transfer or in cash, as the event describes, quoting payment "
        f"number {due.payment_id}; the booking is confirmed once the organizer sees the money."
    )


def _due_facts(due: PaymentDue, event: EventSummary) -> tuple[tuple[str, str], ...]:
    return event.facts(
        ("Seats", seats_text(due.seats)),
        ("Amount", str(due.amount)),
        ("Pay by", format_time(due.hold_expire_time, event.time_zone)),
        ("Payment", due.payment_id),
    )


def payment_due(due: PaymentDue, event: EventSummary, links: Links) -> Content:
    return Content(
        kind=Kind.PAYMENT_DUE,
        title=f"Payment due: {event.title}",
        paragraphs=(
            f"{seats_text(due.seats)} at {event.title} "
            f"{'is' if due.seats == 1 else 'are'} held for you until "
            f"{format_time(due.hold_expire_time, event.time_zone)}. Pay {due.amount} by then to keep "
            f"{'it' if due.seats == 1 else 'them'}; after that the seats are released.",
            _where_to_pay(due),
        ),
        facts=_due_facts(due, event),
        link=due.checkout_url or links.booking(due.booking_id),
        action="Pay now" if due.checkout_url else "View your booking",
        # Worth nothing once the hold has ended.
        expires_at=due.hold_expire_time,
    )


def payment_reminder(due: PaymentDue, event: EventSummary, offset: timedelta, links: Links) -> Content:
    return Content(
        kind=Kind.PAYMENT_REMINDER,
        title=f"{describe_offset(offset)} left to pay: {event.title}",
        paragraphs=(
            f"Your hold on {seats_text(due.seats)} at {event.title} ends "
            f"{format_time(due.hold_expire_time, event.time_zone)} and we have not received your "
            f"payment yet. Pay {due.amount} before then, or the seats are released.",
            _where_to_pay(due),
        ),
        facts=_due_facts(due, event),
        link=due.checkout_url or links.booking(due.booking_id),
        action="Pay now" if due.checkout_url else "View your booking",
        expires_at=due.hold_expire_time,
    )


PAID_WITH = {
    Provider.STRIPE: "Card or another method, at Stripe's checkout",
    Provider.MANUAL: "Bank transfer or cash, to the organizer",
}


def payment_receipt(
    payment: PaymentNews,
    event: EventSummary,
    captured_at: datetime | None,
    booking_state: BookingState | None,
    links: Links,
) -> Content:
    """`booking_state`: the booking's state as last heard of, which tells whether the payment came
    in time (a payment after the hold ended or the booking ended is not kept unless seats are free)."""
    paragraphs = [
        f"Thank you: we received your payment of {payment.captured} for {seats_text(payment.seats)} "
        f"at {event.title}."
    ]
    if booking_state is BookingState.EXPIRED:
        paragraphs.append(
            "It arrived after the hold on your seats had ended. If the seats are still free, your "
            "booking is confirmed; if not, all of it is refunded. We'll tell you which."
        )
    elif booking_state in (BookingState.CANCELLED, BookingState.REJECTED):
        paragraphs.append("It arrived after your booking had ended, so all of it is refunded.")
    paragraphs.append(
        "Refund policy: "
        + refund_policy_text(payment.refund_hours_before_start, payment.full_refund_deadline, event.time_zone)
    )
    extra = [("Seats", seats_text(payment.seats)), ("Paid", str(payment.captured))]
    if captured_at is not None:
        extra.append(("On", format_time(captured_at, event.time_zone)))
    if payment.provider is not None:
        extra.append(("With", PAID_WITH[payment.provider]))
    extra.append(("Payment", payment.payment_id))
    return Content(
        kind=Kind.PAYMENT_RECEIPT,
        title=f"Receipt: {event.title}",
        paragraphs=tuple(paragraphs),
        facts=event.facts(*extra),
        link=links.booking(payment.booking_id),
        action="View your booking",
    )


REFUND_CAUSES = {
    RefundInitiator.ORGANIZER: "The organizer gave you money back.",
    RefundInitiator.ADMIN: "An administrator gave you money back.",
    RefundInitiator.GUEST_CANCELLATION: (
        "You cancelled in time for a full refund under the event's refund policy."
    ),
    RefundInitiator.HOST_CANCELLATION: "Your booking was cancelled by the host or an administrator.",
    RefundInitiator.EVENT_CANCELLATION: "The event was cancelled.",
}
# Refunds whose reason was written by a person other than the buyer: it is quoted.
QUOTED_REASONS = frozenset(
    {
        RefundInitiator.ORGANIZER,
        RefundInitiator.ADMIN,
        RefundInitiator.HOST_CANCELLATION,
        RefundInitiator.EVENT_CANCELLATION,
    }
)
REFUND_ROUTES = {
    Provider.STRIPE: (
        "It goes back to the card or account you paid with; your bank may take a few days to show it."
    ),
    Provider.MANUAL: "The organizer hands it back the way you paid them.",
}


def _how_much(refund: Amount, payment: PaymentNews) -> str:
    if refund.minor >= payment.captured.minor:
        return f"All of your payment, {refund}, is refunded."
    if payment.refunded.minor >= payment.captured.minor:
        return f"The rest of your payment, {refund}, is refunded: all of the {payment.captured} you paid."
    so_far = f" ({payment.refunded} refunded in all so far)" if payment.refunded.minor > refund.minor else ""
    return f"Part of your payment is refunded: {refund} of the {payment.captured} you paid{so_far}."


def payment_refunded(payment: PaymentNews, refund: RefundNews, event: EventSummary, links: Links) -> Content:
    initiator = refund.initiated_by
    if initiator is RefundInitiator.PAYMENT_REFUSED:
        cause = f"We could not keep your payment: {refund.reason or 'your booking would not take it'}."
    else:
        cause = REFUND_CAUSES.get(initiator, "") if initiator is not None else ""
    paragraphs = [part for part in (cause, _how_much(refund.amount, payment)) if part]
    if refund.reason and (initiator is None or initiator in QUOTED_REASONS):
        paragraphs.append(f"Reason given: {refund.reason}")
    route = REFUND_ROUTES.get(payment.provider) if payment.provider is not None else None
    paragraphs.append(route or "It goes back the way you paid.")
    return Content(
        kind=Kind.PAYMENT_REFUNDED,
        title=f"Refund of {refund.amount}: {event.title}",
        paragraphs=tuple(paragraphs),
        facts=event.facts(
            ("Seats", seats_text(payment.seats)),
            ("Refund", str(refund.amount)),
            ("Paid", str(payment.captured)),
            ("Payment", payment.payment_id),
        ),
        link=links.booking(payment.booking_id),
        action="View your booking",
    )


PAYMENT_REFUSALS = {
    PaymentRefusal.SOLD_OUT: (
        "Your payment arrived after the hold on your seats had ended, and the seats had gone to "
        "other guests meanwhile, so we could not seat you."
    ),
    PaymentRefusal.EVENT_NOT_BOOKABLE: (
        "Your payment arrived after the hold on your seats had ended, and the event no longer takes "
        "bookings, so we could not seat you."
    ),
    PaymentRefusal.BOOKING_ENDED: "Your payment arrived after your booking had ended.",
    PaymentRefusal.ALREADY_PAID: "Your booking had already been paid by another payment.",
    PaymentRefusal.AMOUNT_MISMATCH: "The amount paid is not what your booking costs.",
    PaymentRefusal.BOOKED_AGAIN: (
        "Your payment arrived after the hold on your seats had ended, and you had booked this event "
        "(or another at the same time) again meanwhile."
    ),
}


def payment_refused(
    booking: BookingSummary, reason: PaymentRefusal | None, amount: Amount, payment_id: str, links: Links
) -> Content:
    """Bookings would not keep a payment; payments refunds it in full. Said the moment bookings
    decides, under the key of the refund that follows (rules.refused_payment_key)."""
    why = PAYMENT_REFUSALS.get(reason, "") if reason is not None else ""
    return Content(
        kind=Kind.PAYMENT_REFUNDED,
        title=f"Refund of {amount}: {booking.event.title}",
        paragraphs=(
            why or "We could not keep your payment.",
            f"All of your payment, {amount}, is refunded.",
        ),
        facts=booking.event.facts(
            ("Seats", seats_text(booking.seats)), ("Refund", str(amount)), ("Payment", payment_id)
        ),
        link=links.booking(booking.booking_id),
        action="View your booking",
    )
