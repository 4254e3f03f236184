"""What bookings knows of events' free seats (availability.py): trusted for the window only, never
replaced by older news, even news that arrives after the window ran out."""

from __future__ import annotations

from services.bookings.availability import KnownAvailability


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def known(clock: Clock, freed: list[str] | None = None) -> KnownAvailability:
    return KnownAvailability(
        window=1.0, seats_may_be_free=(freed if freed is not None else []).append, clock=clock
    )


def test_what_was_heard_is_trusted_for_the_window_only() -> None:
    clock = Clock()
    availability = known(clock)
    assert availability.seats_left("e") is None
    availability.learn("e", version=3, seats_available=0)
    assert availability.seats_left("e") == 0
    clock.now += 1.5
    assert availability.seats_left("e") is None


def test_older_news_never_replaces_newer_news() -> None:
    clock = Clock()
    availability = known(clock)
    availability.learn("e", version=5, seats_available=2)
    availability.learn("e", version=4, seats_available=0)
    assert availability.seats_left("e") == 2


def test_a_late_sold_out_answer_after_the_window_does_not_undo_freed_seats() -> None:
    # Seats were freed (version 8) while a slow ReserveSeats answer of version 7 was on its way;
    # it arrives after the window ran out and must not be trusted as news.
    clock = Clock()
    availability = known(clock)
    availability.learn("e", version=8, seats_available=1)
    clock.now += 2.5
    assert availability.seats_left("e") is None
    availability.learn("e", version=7, seats_available=0)
    assert availability.seats_left("e") is None


def test_seats_freed_on_a_sold_out_event_are_announced() -> None:
    clock = Clock()
    freed: list[str] = []
    availability = known(clock, freed)
    availability.learn("e", version=1, seats_available=0)
    availability.learn("e", version=2, seats_available=3)
    assert freed == ["e"]
    assert availability.seats_left("e") == 3
