"""The real service process (`python -m services.notifications`) SIGKILLed mid-batch, then restarted.

What is promised (see services/notifications/delivery.py): every email whose acceptance by the SMTP
server was recorded is never sent again, every other one is sent after the restart, and a
redelivered bus message adds nothing. The first test kills the process at a point where messages
are in flight (held by the SMTP server before it accepts them), bus messages are unacknowledged
and deliveries are claimed but unsent — and then counts: every email exactly once.

The one window no SMTP client can close — the server accepted, the process died before recording
it — is the second test, made deterministic with a fault build of the service
(tests/support/faults/notifications.py): the message goes out twice, with the same Message-ID,
which is what a receiving system deduplicates on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from scripts.embedded import free_port
from seatmesh.bookings.v1 import bus_pb2 as bookings_bus
from services.notifications.tables import deliveries, notifications
from services.runtime.bus.envelopes import envelope_for
from services.runtime.database import Database
from services.runtime.redis import create_redis
from tests.integration.test_notifications_helpers import (
    SECRET,
    MailServer,
    booking_details,
    code_issued,
    eventually,
    fake_users,
    mail_server,
    xadd,
)
from tests.support.engines import Engines
from tests.support.services import wait_serving
from tests.support.tokens import TokenFactory

ROOT = Path(__file__).resolve().parents[2]
LEASE = 6.0


class ServiceProcess:
    """`python -m services.notifications` (or a fault build of it) with SEATMESH_* settings,
    stopped by its PID."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.env['SEATMESH_PORT']}"

    async def start(self, fault: str | None = None, **extra: str) -> None:
        module = (
            ["services.notifications"] if fault is None else ["tests.support.faults", "notifications", fault]
        )
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *module,
                cwd=ROOT,
                env={**os.environ, **self.env, **extra},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        await wait_serving(self.address, within=30)

    async def exited(self, within: float = 30) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), within)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.exited()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.exited(within=15)
            except TimeoutError:
                self.process.kill()
                await self.exited()


@asynccontextmanager
async def notifications_process(
    engines: Engines, tokens: TokenFactory, mail: MailServer, users_address: str, log: Path
) -> AsyncIterator[tuple[ServiceProcess, Database]]:
    database_url = engines.new_database("notifications")
    process = ServiceProcess(
        {
            "SEATMESH_DATABASE_URL": database_url,
            "SEATMESH_MIGRATE_ON_START": "false",
            "SEATMESH_REDIS_URL": engines.redis_url,
            "SEATMESH_REDIS_PREFIX": engines.new_redis_prefix(),
            "SEATMESH_HOST": "127.0.0.1",
            "SEATMESH_PORT": str(free_port()),
            "SEATMESH_USERS_ADDRESS": users_address,
            "SEATMESH_EVENTS_ADDRESS": "127.0.0.1:1",
            "SEATMESH_SERVICE_SECRET": SECRET,
            "SEATMESH_SMTP_HOST": "127.0.0.1",
            "SEATMESH_SMTP_PORT": str(mail.port),
            "SEATMESH_SMTP_TIMEOUT": "2",
            "SEATMESH_SMS_TIMEOUT": "2",
            "SEATMESH_DELIVERY_LEASE": str(LEASE),
            "SEATMESH_DELIVERY_BATCH_SIZE": "10",
            "SEATMESH_DELIVERY_CONCURRENCY": "4",
            "SEATMESH_DELIVERY_RETRY_BASE": "0.2",
            "SEATMESH_DELIVERY_RETRY_MAX": "1",
            "SEATMESH_LOG_FORMAT": "text",
            "SEATMESH_LOG_LEVEL": "WARNING",
        },
        log,
    )
    database = Database(database_url, source="notifications", pool_size=2)
    await database.open()
    try:
        yield process, database
    finally:
        await process.stop()
        await database.close()


async def _count(database: Database, table: object, *where: object) -> int:
    return int(await database.scalar(select(func.count()).select_from(table).where(*where)) or 0)  # type: ignore[arg-type]


async def test_sigkill_mid_batch_then_restart_sends_every_email_exactly_once(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with (
        mail_server() as mail,
        fake_users(tokens) as (users, users_address),
        notifications_process(engines, tokens, mail, users_address, tmp_path / "service.log") as (
            process,
            database,
        ),
    ):
        prefix = process.env["SEATMESH_REDIS_PREFIX"]
        host = users.add()
        guests = [users.add() for _ in range(40)]
        envelopes = [
            envelope_for(
                bookings_bus.BookingConfirmed(booking=booking_details(guest, host)), source="bookings"
            )
            for guest in guests
        ]
        # The server accepts 12 messages, then holds every further one before accepting it.
        mail.hold_after = 12
        await process.start()
        redis = create_redis(engines.redis_url)
        try:
            for envelope in envelopes:
                await xadd(redis, prefix, "bookings", envelope)

            async def mid_batch() -> bool:
                sent = await _count(database, deliveries, deliveries.c.state == "SENT")
                return len(mail.received) == 12 and mail.held > 0 and sent == 12

            await eventually(mid_batch, within=30, what="12 accepted and recorded, more in flight")
            await process.kill()
            # The held messages die with their connections (the server never accepted them).
            await eventually(lambda: mail.held == 0, what="held messages dropped")
            assert len(mail.received) == 12
            mail.hold_after = None

            # The relay may publish a message twice (it crashed after XADD, before marking it):
            # every bus message arrives again after the restart.
            for envelope in envelopes:
                await xadd(redis, prefix, "bookings", envelope)
            await process.start()

            async def all_sent() -> bool:
                return await _count(database, deliveries, deliveries.c.state == "SENT") == 40

            await eventually(all_sent, within=60, what="every delivery sent after the restart")
            assert await _count(database, deliveries) == 40
            assert await _count(database, notifications) == 40
        finally:
            await redis.aclose()

        received = mail.messages()
        assert len(received) == 40
        assert sorted(rcpt for item in received for rcpt in item.recipients) == sorted(
            g.email for g in guests
        )
        assert len({item.message_id for item in received}) == 40


async def test_a_crash_between_acceptance_and_recording_resends_with_the_same_message_id(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    async with (
        mail_server() as mail,
        fake_users(tokens) as (users, users_address),
        notifications_process(engines, tokens, mail, users_address, tmp_path / "service.log") as (
            process,
            database,
        ),
    ):
        prefix = process.env["SEATMESH_REDIS_PREFIX"]
        person = users.add()
        await process.start("crash_after_smtp_accept")
        redis = create_redis(engines.redis_url)
        try:
            envelope = envelope_for(
                code_issued(person, "135790"),
                source="users",
            )
            await xadd(redis, prefix, "users", envelope)
            assert await process.exited() == -signal.SIGKILL
            assert len(mail.messages(person.email)) == 1
            await process.start()

            async def sent() -> bool:
                return await _count(database, deliveries, deliveries.c.state == "SENT") == 1

            await eventually(sent, within=30, what="the delivery recorded after the restart")
        finally:
            await redis.aclose()
        copies = mail.messages(person.email)
        assert len(copies) == 2
        assert copies[0].message_id == copies[1].message_id
        assert "135790" in copies[1].subject


async def test_sigterm_finishes_the_message_in_flight_and_records_it(
    engines: Engines, tokens: TokenFactory, tmp_path: Path
) -> None:
    log = tmp_path / "service.log"
    async with (
        mail_server() as mail,
        fake_users(tokens) as (users, users_address),
        notifications_process(engines, tokens, mail, users_address, log) as (process, database),
    ):
        prefix = process.env["SEATMESH_REDIS_PREFIX"]
        person = users.add()
        mail.hold_after = 0
        await process.start(SEATMESH_SHUTDOWN_GRACE="0.5")
        redis = create_redis(engines.redis_url)
        try:
            await xadd(
                redis,
                prefix,
                "users",
                envelope_for(
                    code_issued(person, "864209"),
                    source="users",
                ),
            )
            await eventually(lambda: mail.held > 0, what="a message in flight")
            assert process.process is not None
            process.process.send_signal(signal.SIGTERM)
            # The worker was told to stop while the server still holds the message...
            await eventually(lambda: "finishing the message in flight" in log.read_text(), what="shutdown")
            # ...and then the server accepts it: the stopping process records it before it exits.
            mail.hold_after = None
            assert await process.exited() == 0
        finally:
            await redis.aclose()
        assert len(mail.messages(person.email)) == 1
        assert await _count(database, deliveries, deliveries.c.state == "SENT") == 1
