"""The rules of notifications, as plain functions: who gets what on which channel, when to retry,
which reminders a booking gets, what makes two messages the same one, and what a valid request is.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifications.domain.kinds import (
    ACTIVE_BOOKING_STATES,
    PAYMENT_SETTLED_STATES,
    SECURITY_KINDS,
    BookingState,
    Canceller,
    Channel,
    DeliveryState,
    Kind,
)
from services.notifications.domain.records import Account, ClaimedDelivery, Contact
from services.runtime.errors import Violations, permission_denied

# -- preferences and channels -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    in_app: bool
    email: bool
    sms: bool

    def channels(self) -> set[Channel]:
        chosen = set()
        if self.in_app:
            chosen.add(Channel.IN_APP)
        if self.email:
            chosen.add(Channel.EMAIL)
        if self.sms:
            chosen.add(Channel.SMS)
        return chosen


# In-app and email on, SMS off (it costs money and a phone number is optional).
DEFAULT_CHOICE = ChannelChoice(in_app=True, email=True, sms=False)


def configurable_kinds() -> list[Kind]:
    """Kinds a user can tune: all but security mail."""
    return [kind for kind in Kind if kind not in SECURITY_KINDS]


def effective_preferences(stored: Mapping[Kind, ChannelChoice]) -> dict[Kind, ChannelChoice]:
    """One entry per configurable kind: what the user set, defaults for the rest."""
    return {kind: stored.get(kind, DEFAULT_CHOICE) for kind in configurable_kinds()}


def requested_channels(channels: Iterable[Channel]) -> set[Channel]:
    """SendNotification's channel list; empty means in-app and email."""
    return set(channels) or {Channel.IN_APP, Channel.EMAIL}


# -- deliveries ---------------------------------------------------------------------------------------


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the attempt that just failed (1 = the first).

    "Equal jitter": half the exponential delay is kept, half is random, so retries of many
    deliveries that failed together spread out but never come back sooner than half the delay.
    """
    exponential = min(cap, base * 2.0 ** max(0, attempt - 1))
    rng = rng or random.Random()
    return exponential / 2 + rng.uniform(0, exponential / 2)


def state_after_refusal(attempts: int, *, permanent: bool, max_attempts: int) -> DeliveryState:
    """The recipient was refused: try again later, or give up when it is permanent or the attempts
    are spent."""
    return DeliveryState.FAILED if permanent or attempts >= max_attempts else DeliveryState.PENDING


def why_hopeless(delivery: ClaimedDelivery, *, now: datetime, max_attempts: int) -> str | None:
    """Why a claimed delivery must not be sent any more; None when it may go."""
    if delivery.expires_at is not None and delivery.expires_at <= now:
        return "expired before it could be delivered"
    if delivery.attempts > max_attempts:
        # Claimed more often than allowed without an outcome: the process sending it keeps dying
        # (a poison message must not crash-loop the service).
        return f"no outcome after {delivery.attempts - 1} attempts; given up"
    return None


def unverified_number(delivery: ClaimedDelivery, contact: Contact | None) -> bool:
    """An SMS would go to the account's phone number, which its owner has not verified: it must not
    (anybody can type in anybody's number, and every SMS costs the operator).

    The code that verifies a number is the one exception: it names that number itself (the
    delivery's address), and goes to it.
    """
    return delivery.address is None and contact is not None and not contact.phone_verified


# -- accounts -----------------------------------------------------------------------------------------


def welcome_due(account: Account) -> bool:
    """An account is welcomed once its email address is verified: before that, the address may be
    anybody's (sign-up costs nothing, and the welcome would go to whoever was typed in)."""
    return account.organizer is not None and account.email_verified


# -- bookings -----------------------------------------------------------------------------------------


def hears_of_event_cancellation(previous: BookingState | None) -> bool:
    """A booking cancelled with its event: its guest is told the event was cancelled if the
    booking held or awaited seats (or its earlier state is not known)."""
    return previous is None or previous in ACTIVE_BOOKING_STATES


def host_hears_of_cancellation(cancelled_by: Canceller | None, previous: BookingState | None) -> bool:
    """The host is told when a guest gives up seats they held or asked for."""
    return cancelled_by is Canceller.GUEST and previous in (
        BookingState.CONFIRMED,
        BookingState.AWAITING_APPROVAL,
    )


def promoted_state(announced: BookingState | None) -> BookingState:
    """A waitlisted booking got seats: confirmed, unless the host still has to approve it."""
    return (
        BookingState.AWAITING_APPROVAL
        if announced is BookingState.AWAITING_APPROVAL
        else BookingState.CONFIRMED
    )


# -- reminders ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderOffsets:
    before_24h: timedelta
    before_1h: timedelta
    # Before a booking's payment hold ends, while it is not paid.
    before_hold_end: timedelta

    def items(self) -> list[tuple[Kind, timedelta]]:
        """The reminders before an event starts."""
        return [(Kind.REMINDER_24H, self.before_24h), (Kind.REMINDER_1H, self.before_1h)]


def reminders_for(
    start_time: datetime, confirmed_at: datetime, offsets: ReminderOffsets
) -> list[tuple[Kind, datetime]]:
    """(kind, due time) of the reminders a booking confirmed at `confirmed_at` should get.

    A reminder whose due time had already passed when the booking was confirmed is skipped: who
    books two hours ahead has just been told when it starts and needs no "tomorrow" reminder.
    """
    due = []
    for kind, offset in offsets.items():
        try:
            when = start_time - offset
        except OverflowError:
            # Due before the first moment a datetime can hold: long past, like any missed reminder.
            continue
        if when > confirmed_at:
            due.append((kind, when))
    return due


def reminder_still_useful(start_time: datetime, now: datetime) -> bool:
    """A reminder that is late (the mesh was down at its due time) goes out only before the start."""
    return now < start_time


# -- payments -----------------------------------------------------------------------------------------


def awaits_payment(state: BookingState | None) -> bool:
    """Whether a booking in `state` may still be waiting for its payment. A booking not heard of yet
    may (the payments and bookings streams are read side by side, so news of its payment can come
    first); one paid, or over, is not: news of a checkout that arrives after that is stale."""
    return state not in PAYMENT_SETTLED_STATES


def payment_reminder_time(
    hold_expire_time: datetime, opened_at: datetime, offsets: ReminderOffsets
) -> datetime | None:
    """When to remind a guest who has not paid that their hold ends soon; None when that moment had
    passed when the checkout opened (a hold shorter than the offset: they were just told)."""
    when = hold_expire_time - offsets.before_hold_end
    return when if when > opened_at else None


def payment_reminder_still_useful(
    booking_state: BookingState | None, hold_expire_time: datetime, now: datetime
) -> bool:
    """A due payment reminder goes out while the hold runs and the booking still waits for its
    payment (the schedule row is dropped when it is paid or ends; this covers news still on its way)."""
    return now < hold_expire_time and awaits_payment(booking_state)


# -- what makes two messages the same one -------------------------------------------------------------
# A message is unique per (source key, kind): a key names what caused it, so whatever causes the
# same news twice (a redelivery, two paths to one fact) finds the message there already.


def reminder_key(event_id: str, kind: Kind, start_time: datetime) -> str:
    """Once per event, kind and start time: a moved event gets new reminders."""
    return f"reminder:{event_id}:{kind}:{int(start_time.timestamp())}"


def event_cancelled_key(event_id: str) -> str:
    """EventCancelled and each BookingCancelled it causes mean the same thing to a guest."""
    return f"event-cancelled:{event_id}"


def event_completed_key(event_id: str) -> str:
    return f"event-completed:{event_id}"


def welcome_key(user_id: str) -> str:
    """Once per account, whichever of its registration and verification is heard of last, and
    however often its address is verified again (a new address)."""
    return f"welcome:{user_id}"


def send_key(sender_id: str, request_id: str) -> str:
    return f"send:{sender_id}:{request_id}"


def payment_due_key(booking_id: str, hold_expire_time: datetime) -> str:
    """Once per booking and hold: a checkout opened again (a new attempt after a failed one, a
    closed page opened anew) is not news; a new hold is."""
    return f"payment-due:{booking_id}:{int(hold_expire_time.timestamp())}"


def payment_reminder_key(booking_id: str, hold_expire_time: datetime) -> str:
    return f"payment-reminder:{booking_id}:{int(hold_expire_time.timestamp())}"


def receipt_key(payment_id: str) -> str:
    """A payment succeeds once; a receipt is about that payment, whichever message told it."""
    return f"receipt:{payment_id}"


def refund_key(refund_id: str) -> str:
    return f"refund:{refund_id}"


def refused_payment_key(payment_id: str) -> str:
    """BookingPaymentRefused and the PaymentRefunded of the refund it causes mean the same thing to
    the buyer ("we could not keep your payment; it goes back"): whichever is handled first tells
    them, the other finds it done. Payments refunds a refused payment once (one automatic refund
    per cause and payment), so the payment names it."""
    return f"payment-refused:{payment_id}"


# -- requests -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindChoice:
    # None: not a kind of notification (the unspecified value, or one unknown here).
    kind: Kind | None
    choice: ChannelChoice


# Each kind at most once, so a longer list is wrong as a whole: it is refused with one violation
# rather than one per entry (a thousand duplicates must not make a thousand problems).
MAX_PREFERENCE_ENTRIES = len(configurable_kinds())


def validate_preferences(entries: Sequence[KindChoice], *, given: bool) -> dict[Kind, ChannelChoice]:
    """The choices to store, one per kind; every problem with the request at once."""
    violations = Violations()
    if not given:
        violations.add("preferences", "is required")
    if len(entries) > MAX_PREFERENCE_ENTRIES:
        violations.add(
            "preferences.kinds", f"must have at most {MAX_PREFERENCE_ENTRIES} entries, one per kind"
        )
        violations.raise_if_any()
    choices: dict[Kind, ChannelChoice] = {}
    for index, entry in enumerate(entries):
        path = f"preferences.kinds[{index}].kind"
        if entry.kind in SECURITY_KINDS:
            violations.add(path, "security messages are always emailed; they have no preferences")
        elif entry.kind is None:
            violations.add(path, "must be a notification kind")
        elif entry.kind in choices:
            violations.add(path, "is listed twice")
        else:
            choices[entry.kind] = entry.choice
    violations.raise_if_any()
    return choices


@dataclass(frozen=True)
class SendDraft:
    """SendNotification as the client wrote it."""

    event_id: str
    title: str
    body: str
    # None where the client named no channel this service knows.
    channels: tuple[Channel | None, ...]


@dataclass(frozen=True)
class Send:
    """A message from an organizer (to one event's attendees) or an admin (to everyone)."""

    event_id: str | None
    title: str
    body: str
    channels: frozenset[Channel]


# The longest body a sender may write, per channel. An SMS carries the body whole and every segment
# is paid for by the operator, so it is far shorter than what the inbox or an email shows.
MAX_BODY = {Channel.IN_APP: 5000, Channel.EMAIL: 5000, Channel.SMS: 160}
# Naming a channel twice adds nothing, so a list longer than all of them is a mistake.
MAX_CHANNELS = len(Channel)


def validate_send(draft: SendDraft, *, is_admin: bool) -> Send:
    violations = Violations()
    title, body = draft.title.strip(), draft.body.strip()
    violations.check(1 <= len(title) <= 200, "title", "must be 1–200 characters")
    if len(draft.channels) > MAX_CHANNELS:
        violations.add("channels", f"must have at most {MAX_CHANNELS} entries")
    else:
        for index, channel in enumerate(draft.channels):
            violations.check(channel is not None, f"channels[{index}]", "must be IN_APP, EMAIL or SMS")
    channels = requested_channels(channel for channel in draft.channels if channel is not None)
    # The strictest channel the message goes to decides.
    limit, strictest = min((MAX_BODY[channel], channel) for channel in channels)
    if not 1 <= len(body) <= limit:
        sent_by = " when sent by SMS" if strictest is Channel.SMS else ""
        violations.add("body", f"must be 1–{limit:,} characters{sent_by}")
    event_id: str | None = None
    if draft.event_id:
        try:
            event_id = str(uuid.UUID(draft.event_id))
        except ValueError:
            violations.add("event_id", "must be an event id")
    elif not is_admin:
        violations.add("event_id", "is required: organizers write to the attendees of one of their events")
    violations.raise_if_any()
    return Send(event_id=event_id, title=title, body=body, channels=frozenset(channels))


def check_may_write_to_attendees(organizer_id: str, sender_id: str, *, is_admin: bool) -> None:
    """Organizers write only to the attendees of their own events; admins to any event's."""
    if not is_admin and organizer_id != sender_id:
        raise permission_denied(
            "you can write only to the attendees of your own events", reason="NOT_EVENT_ORGANIZER"
        )
