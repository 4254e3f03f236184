"""Reviews of attended bookings: the guest reviews the event and its host, the host rates the guest;
once per booking, for confirmed bookings of events that took place."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.bookings.domain.bookings import Booking, State, booking_not_found
from services.runtime.auth import Principal
from services.runtime.errors import (
    ServiceError,
    Violations,
    already_exists,
    bad_field,
    failed_precondition,
    permission_denied,
)

MAX_COMMENT_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Review:
    """A guest's review of a booking they attended (one per booking)."""

    booking_id: uuid.UUID
    event_id: str
    guest_id: str
    host_id: str
    event_rating: int
    host_rating: int
    comment: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class GuestRating:
    """The host's rating of a booking's guest (one per booking)."""

    booking_id: uuid.UUID
    event_id: str
    guest_id: str
    host_id: str
    rating: int
    create_time: datetime


def validate_review(event_rating: int, host_rating: int, comment: str) -> str:
    problems = Violations()
    problems.check(1 <= event_rating <= 5, "event_rating", "must be between 1 and 5")
    problems.check(1 <= host_rating <= 5, "host_rating", "must be between 1 and 5")
    problems.check(
        len(comment) <= MAX_COMMENT_LENGTH, "comment", f"must be at most {MAX_COMMENT_LENGTH} characters"
    )
    problems.raise_if_any()
    return comment.strip()


def validate_guest_rating(rating: int) -> None:
    if not 1 <= rating <= 5:
        raise bad_field("rating", "must be between 1 and 5")


def require_guest(booking: Booking, principal: Principal) -> None:
    if principal.user_id == booking.user_id:
        return
    if principal.user_id == booking.host_id or principal.is_admin:
        raise permission_denied("only the guest of this booking can review it", reason="NOT_GUEST")
    raise booking_not_found(str(booking.id))


def require_rating_host(booking: Booking, principal: Principal) -> None:
    if principal.user_id == booking.host_id:
        return
    if principal.user_id == booking.user_id or principal.is_admin:
        raise permission_denied("only the event's host can rate its guests", reason="NOT_HOST")
    raise booking_not_found(str(booking.id))


def check_attended(booking: Booking, event_completed: bool) -> None:
    """Reviews and ratings are for confirmed bookings of events that took place."""
    if booking.state != State.CONFIRMED:
        raise failed_precondition(
            "NOT_ATTENDED",
            "only a confirmed booking of an event that took place can be reviewed",
            resource_name=str(booking.id),
        )
    if not event_completed:
        raise failed_precondition(
            "EVENT_NOT_COMPLETED", "reviews open once the event is over", resource_name=booking.event_id
        )


def already_reviewed() -> ServiceError:
    return already_exists("ALREADY_REVIEWED", "you have already reviewed this booking")


def already_rated() -> ServiceError:
    return already_exists("ALREADY_RATED", "you have already rated the guest of this booking")
