"""What notifications says about payments: payment due, the reminder before a hold ends,
receipts, refunds and refused late payments."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.notifications.content.links import Links
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
    describe_offset,
    format_time,
    reason_given,
    refund_policy_text,
    seats_text,
)
from services.notifications.domain.records import PaymentNews, RefundNews
from services.runtime.money import Amount


def _where_to_pay(due: PaymentDue) -> str:
    if due.checkout_url:
        return "Pay on the checkout page linked below; if it has closed, open your booking for a new one."
    return (
        f"Pay the organizer by bank transfer or in cash, as the event describes, quoting payment "
        f"number {due.payment_id}; the booking is confirmed once the organizer sees the money."
    )


def _asking_to_pay(
    due: PaymentDue, event: EventSummary, links: Links, *, kind: Kind, title: str, situation: str
) -> Content:
    """The payment due and its reminder differ in their title and in what they say of the hold;
    both say where to pay, link there, and are worth nothing once the hold has ended."""
    return Content(
        kind=kind,
        title=title,
        paragraphs=(situation, _where_to_pay(due)),
        facts=event.facts(
            ("Seats", seats_text(due.seats)),
            ("Amount", str(due.amount)),
            ("Pay by", format_time(due.hold_expire_time, event.time_zone)),
            ("Payment", due.payment_id),
        ),
        link=due.checkout_url or links.booking(due.booking_id),
        action="Pay now" if due.checkout_url else "View your booking",
        expires_at=due.hold_expire_time,
    )


def payment_due(due: PaymentDue, event: EventSummary, links: Links) -> Content:
    return _asking_to_pay(
        due,
        event,
        links,
        kind=Kind.PAYMENT_DUE,
        title=f"Payment due: {event.title}",
        situation=(
            f"{seats_text(due.seats)} at {event.title} "
            f"{'is' if due.seats == 1 else 'are'} held for you until "
            f"{format_time(due.hold_expire_time, event.time_zone)}. Pay {due.amount} by then to keep "
            f"{'it' if due.seats == 1 else 'them'}; after that the seats are released."
        ),
    )


def payment_reminder(due: PaymentDue, event: EventSummary, offset: timedelta, links: Links) -> Content:
    return _asking_to_pay(
        due,
        event,
        links,
        kind=Kind.PAYMENT_REMINDER,
        title=f"{describe_offset(offset)} left to pay: {event.title}",
        situation=(
            f"Your hold on {seats_text(due.seats)} at {event.title} ends "
            f"{format_time(due.hold_expire_time, event.time_zone)} and we have not received your "
            f"payment yet. Pay {due.amount} before then, or the seats are released."
        ),
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
    if initiator is None or initiator in QUOTED_REASONS:
        paragraphs.extend(reason_given(refund.reason))
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
