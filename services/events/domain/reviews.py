"""Reviews: bookings reports them on the bus; events keeps one per booking and the event's exact
rating sums. A public review page shows the ratings, the comment, the time and the author's public
name; which booking (and so which person's attendance) a review comes from is for its author and
admins only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.runtime.auth import Principal

MIN_RATING = 1
MAX_RATING = 5


@dataclass(frozen=True)
class ReviewRecord:
    id: uuid.UUID
    event_id: uuid.UUID
    booking_id: str
    author_id: str
    event_rating: int
    host_rating: int
    comment: str
    create_time: datetime


def review_problems(event_rating: int, host_rating: int, booking_id: str) -> list[str]:
    """What makes a submitted review unusable (bookings validates first; this guards the data)."""
    problems = []
    if not MIN_RATING <= event_rating <= MAX_RATING:
        problems.append(f"event_rating {event_rating} is not within {MIN_RATING}..{MAX_RATING}")
    if not MIN_RATING <= host_rating <= MAX_RATING:
        problems.append(f"host_rating {host_rating} is not within {MIN_RATING}..{MAX_RATING}")
    if not booking_id:
        problems.append("booking_id is empty")
    return problems


def reveals_attendance(review: ReviewRecord, viewer: Principal | None) -> bool:
    """Whether `viewer` may see the review's booking and author ids: anyone else would learn from
    them who attended what, beyond the author's public name."""
    if viewer is None:
        return False
    return viewer.is_admin or viewer.subject == review.author_id
