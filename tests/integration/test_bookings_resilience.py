"""The saga when things break: events unreachable mid-booking, bookings killed after ReserveSeats.

Whatever broke, once events is back and the reconciler ran, every booking is settled and
seats_taken == sum(seats of CONFIRMED + AWAITING_APPROVAL + AWAITING_PAYMENT bookings) for every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from scripts.embedded import free_port
from seatmesh.bookings.v1 import bookings_pb2
from services.runtime.auth import Role
from services.runtime.errors import error_metadata, error_reason
from services.users.keyring import plan_keys, read_key_dir
from tests.integration.test_bookings_service import (
    Booking,
    Mesh,
    eventually,
    mesh_clients,
    refused,
    running_mesh,
)
from tests.support.engines import Engines
from tests.support.services import serve_service, wait_serving
from tests.support.tokens import TokenFactory

ROOT = Path(__file__).resolve().parents[2]


class Proxy:
    """A TCP hop between bookings and events that the test can take down and bring back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.target = ""
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, target: str) -> str:
        self.target = target
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        return self.address

    async def stop(self) -> None:
        """Events is gone: connections drop and new ones are refused."""
        if self.server is not None:
            self.server.close()
            for writer in list(self.links):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def resume(self) -> None:
        await self.start(self.target)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.target.rsplit(":", 1)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.transport.abort()
            return
        self.links.update({writer, upstream_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.links.difference_update({writer, upstream_writer})


async def test_events_down_means_unavailable_within_the_deadline_and_no_seat_leaks(
    tokens: TokenFactory, engines: Engines
) -> None:
    proxy = Proxy()
    async with running_mesh(
        tokens, engines, bookings_settings={"events_deadline": 1.0}, events_in_front=proxy.start
    ) as mesh:
        try:
            host = mesh.user(Role.ORGANIZER)
            event = await mesh.new_event(host, capacity=5)
            unknown_yet = await mesh.new_event(host, capacity=5)
            first_guest, guest = mesh.user(), mesh.user()
            first = await mesh.book(first_guest, event.id, seats=2)
            assert first.state == Booking.CONFIRMED

            await proxy.stop()
            request_id = str(uuid.uuid4())
            # The client's own deadline is far; the service answers first, with UNAVAILABLE.
            error = await refused(
                mesh.bookings_stub.CreateBooking(
                    bookings_pb2.CreateBookingRequest(
                        booking=bookings_pb2.Booking(event_id=event.id, seats=3), request_id=request_id
                    ),
                    metadata=guest.auth,
                    timeout=20,
                )
            )
            assert (error.code(), error_reason(error)) == (grpc.StatusCode.UNAVAILABLE, "EVENTS_UNAVAILABLE")
            pending_id = error_metadata(error)["booking_id"]
            assert await mesh.state(pending_id) == Booking.PENDING
            # An event this process never saw cannot even be checked: nothing is written.
            cold = await refused(mesh.book(mesh.user(), unknown_yet.id))
            assert cold.code() == grpc.StatusCode.UNAVAILABLE
            assert "booking_id" not in error_metadata(cold)
            # Cancelling while events is away works; the seats follow when it is back.
            cancelled = await mesh.bookings_stub.CancelBooking(
                bookings_pb2.CancelBookingRequest(booking_id=first.id), metadata=first_guest.auth
            )
            assert cancelled.state == Booking.CANCELLED

            await proxy.resume()
            await mesh.assert_invariant(event.id)
            assert await mesh.state(pending_id) == Booking.CONFIRMED
            assert await mesh.seats_taken(event.id) == (3, 5)
            # The client's retry with the same request id learns the outcome.
            again = await mesh.book(guest, event.id, seats=3, request_id=request_id)
            assert (again.id, again.state) == (pending_id, Booking.CONFIRMED)
            await mesh.assert_invariant(unknown_yet.id)
        finally:
            await proxy.stop()


# -- a crash between ReserveSeats and the settlement --------------------------------------------

SECRET = "integration-service-secret-0123456789"


def users_key(key_dir: Path) -> TokenFactory:
    """Tokens signed with the users service's own key, like the ones it issues."""
    plan = plan_keys(read_key_dir(key_dir), time.time(), rotate_after=math.inf, retire_after=0.0)
    assert plan.signing is not None
    return TokenFactory(key=plan.signing.key)


def start_bookings(env: dict[str, str], fault: str = "") -> subprocess.Popen[bytes]:
    """The bookings service as its own process; with `fault`, the test build that injects it."""
    module = ["tests.support.faults", "bookings", fault] if fault else ["services.bookings"]
    return subprocess.Popen(
        [sys.executable, "-m", *module],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def exited(process: subprocess.Popen[bytes], within: float = 15.0) -> int:
    deadline = time.monotonic() + within
    while process.poll() is None:
        assert time.monotonic() < deadline, "the process did not exit"
        await asyncio.sleep(0.05)
    return process.returncode


@contextlib.asynccontextmanager
async def stopped_at_exit(process: subprocess.Popen[bytes]) -> AsyncIterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await exited(process, 10)
            except AssertionError:
                process.kill()
                process.wait()


async def test_bookings_killed_after_reserve_seats_is_settled_by_the_reconciler_after_restart(
    tokens: TokenFactory, engines: Engines, tmp_path: Path
) -> None:
    prefix = engines.new_redis_prefix()
    key_dir = tmp_path / "keys"
    async with serve_service(
        "users", tokens, engines, key_dir=key_dir, service_secret=SECRET, overrides={"verifier": None}
    ) as users:
        real = users_key(key_dir)
        async with serve_service(
            "events",
            real,
            engines,
            redis_prefix=prefix,
            users_address=users.address,
            service_secret=SECRET,
            overrides={"verifier": None, "credentials": None},
        ) as events:
            port = free_port()
            env = {
                "SEATMESH_DATABASE_URL": engines.new_database("bookings"),
                "SEATMESH_EVENTS_ADDRESS": events.address,
                "SEATMESH_USERS_ADDRESS": users.address,
                "SEATMESH_SERVICE_SECRET": SECRET,
                "SEATMESH_REDIS_URL": engines.redis_url,
                "SEATMESH_REDIS_PREFIX": prefix,
                "SEATMESH_PORT": str(port),
                "SEATMESH_RECONCILE_AFTER": "1",
                "SEATMESH_RECONCILE_INTERVAL": "0.2",
                "SEATMESH_LOG_FORMAT": "text",
            }
            address = f"127.0.0.1:{port}"
            async with mesh_clients(
                real,
                events_address=events.address,
                events_database=events.settings.database_url,
                bookings_address=address,
                bookings_database=env["SEATMESH_DATABASE_URL"],
            ) as mesh:
                await crash_then_recover(mesh, env, address)


async def crash_then_recover(mesh: Mesh, env: dict[str, str], address: str) -> None:
    host = mesh.user(Role.ORGANIZER)
    event = await mesh.new_event(host, capacity=4)
    guest = mesh.user()
    request_id = str(uuid.uuid4())

    async with stopped_at_exit(start_bookings(env, fault="crash_after_reserve")) as doomed:
        await wait_serving(address, 30)
        error = await refused(mesh.book(guest, event.id, seats=3, request_id=request_id))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert await exited(doomed) == -signal.SIGKILL
    # Seats are taken, the booking is still PENDING: the invariant is broken until reconciled.
    assert await mesh.seats_taken(event.id) == (3, 4)
    assert await mesh.held(event.id) == 0

    async with stopped_at_exit(start_bookings(env)):
        await wait_serving(address, 30)
        await mesh.assert_invariant(event.id)
        again = await mesh.book(guest, event.id, seats=3, request_id=request_id)
        assert again.state == Booking.CONFIRMED
        assert await mesh.seats_taken(event.id) == (3, 4)
        assert await mesh.bus_types(again.id) == ["BookingConfirmed"]

        async def one_booking() -> bool:
            listed = await mesh.bookings_stub.ListBookings(
                bookings_pb2.ListBookingsRequest(), metadata=guest.auth
            )
            return [booking.id for booking in listed.bookings] == [again.id]

        await eventually(one_booking, what="exactly one booking")
