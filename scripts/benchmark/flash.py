"""The flash sale (every buyer at once, gRPC through Envoy, free or paid) and the check that an
early sold-out answer never outlives freed seats by more than bookings' documented window.

Buyers' requests are serialized before the gate opens and sent as bytes, so the client spends its
CPU on the calls, not on protobuf. Half the buyers ask to join the waitlist.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import grpc
import httpx
import psycopg

from scripts.benchmark.accounting import CpuSnapshot
from scripts.benchmark.booking import check_money, pay_every_hold
from scripts.benchmark.model import BenchConfig, BenchFailure, Result, Target
from scripts.benchmark.seeding import Seeder, check_invariant, create_event
from seatmesh.bookings.v1 import bookings_pb2
from services.runtime.errors import error_reason
from services.runtime.migrations import libpq_conninfo

CREATE_BOOKING = "/seatmesh.bookings.v1.BookingService/CreateBooking"
# HTTP/2 connections the buyers share: Envoy admits 1,000 concurrent streams on each.
CHANNELS = 8
WINNING = {"CONFIRMED", "AWAITING_PAYMENT"}
ANSWERS = WINNING | {"WAITLISTED", "REJECTED", "SOLD_OUT"}
# A buyer waits for an answer as long as it takes (the run measures how long that is).
DEADLINE = 600.0
RETRIES = 5
RETRY_DELAY = 1.0


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


async def _sale(target: Target, buyers: list[tuple[str, str]], event_id: str) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(target.edge) for _ in range(CHANNELS)]
    outcomes: list[tuple[str, float]] = []
    retried: dict[int, int] = {}
    try:
        calls = [channel.unary_unary(CREATE_BOOKING) for channel in channels]
        requests = [
            (
                bookings_pb2.CreateBookingRequest(
                    booking=bookings_pb2.Booking(event_id=event_id, seats=1, join_waitlist=index % 2 == 0),
                    request_id=str(uuid.uuid4()),
                ).SerializeToString(),
                (("authorization", f"Bearer {token}"),),
            )
            for index, (_, token) in enumerate(buyers)
        ]
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def buy(index: int) -> None:
            request, metadata = requests[index]
            await gate.wait()
            # As a client is told to: a busy events service (EVENTS_UNAVAILABLE, the booking is
            # settled later) is asked again with the same request id, which answers with that
            # booking. A buyer is answered when an answer other than that arrives.
            for attempt in range(RETRIES + 1):
                try:
                    reply = await calls[index % CHANNELS](request, metadata=metadata, timeout=DEADLINE)
                    outcome = bookings_pb2.Booking.State.Name(bookings_pb2.Booking.FromString(reply).state)
                except grpc.aio.AioRpcError as error:
                    outcome = error_reason(error) or error.code().name
                if outcome != "EVENTS_UNAVAILABLE" or attempt == RETRIES:
                    break
                retried[index] = attempt + 1
                await asyncio.sleep(RETRY_DELAY)
            outcomes.append((outcome, loop.time()))

        for channel in channels:
            await channel.channel_ready()
        tasks = [asyncio.create_task(buy(index)) for index in range(len(buyers))]
        await asyncio.sleep(0.5)  # every buyer is waiting at the gate
        cpu = time.process_time()
        started = loop.time()
        gate.set()
        await asyncio.gather(*tasks)
        finished = loop.time()
        cpu = time.process_time() - cpu
    finally:
        for channel in channels:
            await channel.close()
    won = sorted(moment - started for outcome, moment in outcomes if outcome in WINNING)
    answered = sorted(moment - started for _, moment in outcomes)
    return {
        "outcomes": dict(Counter(outcome for outcome, _ in outcomes)),
        "answered": len(outcomes),
        "all_answered_s": finished - started,
        "sold_out_s": won[-1] if won else None,
        "answer_p50_s": _percentile(answered, 0.5),
        "answer_p90_s": _percentile(answered, 0.9),
        "answer_p99_s": _percentile(answered, 0.99),
        "client_cpu_s": cpu,
        "buyers_who_asked_again": len(retried),
    }


def _rows_by_state(target: Target, event_id: str) -> dict[str, int]:
    with psycopg.connect(libpq_conninfo(target.database_urls["bookings"]), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM bookings WHERE event_id = %s GROUP BY state", (event_id,)
        ).fetchall()
    return {str(state): int(count) for state, count in rows}


def phase_flash_sale(
    target: Target, config: BenchConfig, seeder: Seeder, organizer: str, *, paid: bool = False
) -> Result:
    buyer_count = config.paid_flash_buyers if paid else config.flash_buyers
    seats = config.paid_flash_seats if paid else config.flash_seats
    buyers = seeder.users(buyer_count)
    event_id = create_event(
        target, organizer, capacity=seats, title="Flash sale", price_units=25 if paid else None
    )
    processes = {**target.processes, **target.engines}
    cpu_before = CpuSnapshot.take(processes)
    sale = asyncio.run(_sale(target, buyers, event_id))
    # CPU per process from the start of the sale until the last buyer was answered.
    sale["cpu_s"] = {
        name: round(seconds, 2) for name, seconds in CpuSnapshot.take(processes).since(cpu_before).items()
    }
    outcomes = sale["outcomes"]
    counts = check_invariant(target, [event_id])[event_id]
    won = outcomes.get("AWAITING_PAYMENT" if paid else "CONFIRMED", 0)
    if won != seats:
        raise BenchFailure(f"flash sale did not sell exactly {seats} seats: {counts} {outcomes}")
    if sale["answered"] != len(buyers):
        raise BenchFailure(f"{len(buyers) - sale['answered']} buyers got no answer")
    unexplained = {outcome: count for outcome, count in outcomes.items() if outcome not in ANSWERS}
    if unexplained:
        raise BenchFailure(f"buyers got answers other than a seat, the waitlist or sold out: {unexplained}")
    rows = _rows_by_state(target, event_id)
    # A sold-out answer that reached events leaves a REJECTED booking; one shed early leaves none.
    sold_out = outcomes.get("SOLD_OUT", 0)
    detail: dict[str, Any] = {
        **sale,
        "sold_out_answers_shed_early": max(0, sold_out - rows.get("REJECTED", 0)),
        "rows": rows,
    }
    if paid:
        confirmed = pay_every_hold(target, event_id)
        counts = check_invariant(target, [event_id])[event_id]
        if confirmed != seats:
            raise BenchFailure(f"paid flash sale: {confirmed} confirmed after paying, not {seats}")
        check_money(target, [event_id])
        detail["money"] = "holds"
    elif counts.get("confirmed", 0) != seats:
        raise BenchFailure(f"flash sale did not confirm exactly {seats} seats: {counts}")
    detail.update(event=counts, invariant="holds")
    return Result(
        name=f"flash sale{', paid event' if paid else ''}: {len(buyers):,} buyers, {seats:,} seats (gRPC)",
        rate=sale["sold_out_s"] or 0.0,
        unit="s to sell out",
        loader="grpc.aio",
        detail=detail,
    )


# -- the early sold-out answer's window ---------------------------------------------------------


def _book(client: httpx.Client, token: str, event_id: str) -> dict[str, Any]:
    response = client.post(
        "/v1/bookings",
        params={"requestId": str(uuid.uuid4())},
        json={"eventId": event_id, "seats": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


def _outcome(body: dict[str, Any]) -> str:
    if body.get("state"):
        return str(body["state"])
    for detail in body.get("details") or []:
        if detail.get("reason"):
            return str(detail["reason"])
    return "UNKNOWN"


def phase_sold_out_window(target: Target, config: BenchConfig, seeder: Seeder, organizer: str) -> Result:
    """Sell an event out, free seats by cancelling, and book again at once: the first booking after
    the seats were freed must be confirmed within the window, and every freed seat sold again."""
    capacity, freed = 20, 5
    guests = seeder.users(capacity + 200)
    event_id = create_event(target, organizer, capacity=capacity, title="Sold out, then freed")
    holders: list[tuple[str, str]] = []
    with httpx.Client(base_url=target.rest_url, timeout=10) as client:
        for _, token in guests[:capacity]:
            body = _book(client, token, event_id)
            if _outcome(body) != "CONFIRMED":
                raise BenchFailure(f"could not fill the event: {body}")
            holders.append((str(body["id"]), token))
        refusals = Counter(
            _outcome(_book(client, token, event_id)) for _, token in guests[capacity : capacity + 20]
        )
        if set(refusals) != {"SOLD_OUT"}:
            raise BenchFailure(f"a sold-out event answered {dict(refusals)}")
        # A refusal that reached events left a REJECTED booking; one answered early, none.
        shed_early = sum(refusals.values()) - _rows_by_state(target, event_id).get("REJECTED", 0)
        for booking_id, token in holders[:freed]:
            response = client.post(
                f"/v1/bookings/{booking_id}:cancel", json={}, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 200:
                raise BenchFailure(f"could not cancel: {response.text}")
        seats_freed = time.monotonic()
        attempts = Counter[str]()
        first_confirmed: float | None = None
        buyers = iter(guests[capacity + 20 :])
        sold = 0
        while sold < freed:
            _, token = next(buyers)
            sent = time.monotonic() - seats_freed
            outcome = _outcome(_book(client, token, event_id))
            attempts[outcome] += 1
            if outcome == "CONFIRMED":
                sold += 1
                if first_confirmed is None:
                    first_confirmed = time.monotonic() - seats_freed
            elif outcome != "SOLD_OUT":
                raise BenchFailure(f"booking freed seats answered {outcome}")
            elif sent > config.sold_out_window:
                raise BenchFailure(
                    f"refused {sent:.2f}s after seats were freed (the window is"
                    f" {config.sold_out_window}s): {dict(attempts)}"
                )
        _, token = next(buyers)
        after = _outcome(_book(client, token, event_id))
        if after != "SOLD_OUT":
            raise BenchFailure(f"sold out again, a booking answered {after}")
    counts = check_invariant(target, [event_id])[event_id]
    if counts.get("confirmed", 0) != capacity:
        raise BenchFailure(f"after selling the freed seats again: {counts}")
    return Result(
        name="sold out, seats freed, booked again (REST)",
        rate=first_confirmed or 0.0,
        unit="s until a freed seat sells",
        loader="httpx",
        detail={
            "capacity": capacity,
            "freed": freed,
            "refusals_while_sold_out": dict(refusals),
            "refusals_shed_early": shed_early,
            "attempts_after_freeing": dict(attempts),
            "window_s": config.sold_out_window,
            "event": counts,
            "invariant": "holds",
        },
    )
