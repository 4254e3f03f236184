"""Ratings: what bookings' events say about hosts and guests, and what a profile shows of them."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class RatingKind(enum.StrEnum):
    HOST = "host"  # a guest rated the host of an event
    GUEST = "guest"  # a host rated a guest


@dataclass(frozen=True)
class Rating:
    """One booking's rating of one side."""

    booking_id: str
    kind: RatingKind
    user_id: uuid.UUID
    stars: int


@dataclass(frozen=True)
class RatingTotals:
    """The ratings one side of a user has received: kept as sum and count, shown as an average."""

    total: int
    count: int

    @property
    def average(self) -> float:
        return round(self.total / self.count, 2) if self.count else 0.0


def given_rating(booking_id: str, kind: RatingKind, user_id: str, stars: int) -> Rating | None:
    """One side's rating of a booking; None when that side was not rated (0 stars).

    Out of range is raised, not skipped: this comes from a bus event, not a client, so after its
    retries it lands in the dead-letter stream for someone to look at.
    """
    if stars == 0:
        return None
    if not 1 <= stars <= 5:
        raise ValueError(f"{kind} rating {stars} of booking {booking_id} is outside 1..5")
    return Rating(booking_id=booking_id, kind=kind, user_id=uuid.UUID(user_id), stars=stars)
