"""What each kind of notification says: a `Content` composed from what happened (no I/O).

Composed once, when the trigger is handled, and stored with the message (see domain/messages.py).
Times are shown in the event's own time zone, links start at SEATMESH_PUBLIC_URL.

Each composer spells its message out in full: they are alike in shape and differ in words, and a
message is read and changed as a whole, so they deliberately share no template of their own. The
one exception is the payment due and its reminder, one message said twice (payments.py); what
they share beyond that is a phrase (domain/messages.py: `seats_text`, `reason_given`...).
"""

from __future__ import annotations

from services.notifications.content.accounts import phone_verification_code, verification_code, welcome
from services.notifications.content.bookings import (
    CANCELLERS,
    REJECTION_CAUSES,
    approval_requested,
    booking_approved,
    booking_cancelled,
    booking_confirmed,
    booking_expired,
    booking_promoted,
    booking_rejected,
    booking_waitlisted,
    guest_cancelled,
    request_sent,
)
from services.notifications.content.events import (
    announcement,
    describe_changes,
    event_cancelled,
    event_updated,
    organizer_message,
    rate_event,
    reminder,
)
from services.notifications.content.links import Links
from services.notifications.content.payments import (
    PAID_WITH,
    PAYMENT_REFUSALS,
    QUOTED_REASONS,
    REFUND_CAUSES,
    REFUND_ROUTES,
    payment_due,
    payment_receipt,
    payment_refunded,
    payment_refused,
    payment_reminder,
)

__all__ = [
    "CANCELLERS",
    "PAID_WITH",
    "PAYMENT_REFUSALS",
    "QUOTED_REASONS",
    "REFUND_CAUSES",
    "REFUND_ROUTES",
    "REJECTION_CAUSES",
    "Links",
    "announcement",
    "approval_requested",
    "booking_approved",
    "booking_cancelled",
    "booking_confirmed",
    "booking_expired",
    "booking_promoted",
    "booking_rejected",
    "booking_waitlisted",
    "describe_changes",
    "event_cancelled",
    "event_updated",
    "guest_cancelled",
    "organizer_message",
    "payment_due",
    "payment_receipt",
    "payment_refunded",
    "payment_refused",
    "payment_reminder",
    "phone_verification_code",
    "rate_event",
    "reminder",
    "request_sent",
    "verification_code",
    "welcome",
]
