"""An open-loop HTTP/1.1 load generator: requests leave on a fixed schedule, whatever the answers do.

Debian's `wrk` sends the next request on a connection only when the previous answer came back, so a
slow answer delays the requests behind it and their latency is never recorded (coordinated
omission); wrk2's `-R` fixes that but is not packaged. Here request i is due at `start + i / rate`;
it goes out on a free keep-alive connection (a new one while fewer than `max_connections` are
open, otherwise it waits for one), and its latency is counted from when it was due, not from when
it could be sent: a stall shows up in every request it delays, as a user would see it.

Requests are pre-formatted bytes and answers are parsed by hand (status line, Content-Length or
chunked body), so the generator costs a few tens of microseconds per request and leaves the cores
to the system under test.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_STATE = re.compile(rb'"state":\s*"([A-Z_]+)"')
_REASON = re.compile(rb'"reason":\s*"([A-Z_]+)"')


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, bytes(body)
        return status, await self.reader.readexactly(length or 0)

    def close(self) -> None:
        self.writer.close()


@dataclass
class OpenLoopResult:
    rate: float
    duration: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    connections: int = 0
    # How late the generator itself started requests (its own scheduling lag, for honesty).
    max_send_lag: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def percentile(share: float) -> float:
            if not ordered:
                return 0.0
            return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000

        return {
            "target_rate": self.rate,
            "achieved_rate": len(ordered) / self.duration if self.duration else 0.0,
            "requests": len(ordered),
            "p50_ms": percentile(0.50),
            "p90_ms": percentile(0.90),
            "p99_ms": percentile(0.99),
            "max_ms": ordered[-1] * 1000 if ordered else 0.0,
            "errors": self.errors,
            "non_2xx": sum(count for status, count in self.statuses.items() if not status.startswith("2")),
            "statuses": dict(self.statuses),
            "states": dict(self.states),
            "connections": self.connections,
            "max_send_lag_ms": self.max_send_lag * 1000,
        }


async def open_loop(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    duration: float,
    max_connections: int = 256,
) -> OpenLoopResult:
    """Send `make_request(i)` at `rate` per second for `duration` seconds; latencies from due time."""
    result = OpenLoopResult(rate=rate, duration=duration)
    loop = asyncio.get_running_loop()
    idle: list[_Connection] = []
    waiters: deque[asyncio.Future[_Connection]] = deque()
    opened = 0

    async def open_one() -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return _Connection(reader, writer)

    async def connection() -> _Connection:
        nonlocal opened
        if idle:
            return idle.pop()
        if opened < max_connections:
            opened += 1
            return await open_one()
        waiter: asyncio.Future[_Connection] = loop.create_future()
        waiters.append(waiter)
        return await waiter

    def give_back(used: _Connection) -> None:
        # A request waiting for a connection gets it first; otherwise it stays open for the next.
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(used)
                return
        idle.append(used)

    async def replace() -> None:
        give_back(await open_one())

    async def send(index: int, due: float) -> None:
        used = await connection()
        try:
            status, body = await used.exchange(make_request(index))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            used.close()
            # Whoever waits for a connection gets a fresh one.
            await replace()
            return
        result.latencies.append(loop.time() - due)
        result.statuses[str(status)] += 1
        found = _STATE.search(body) or _REASON.search(body)
        result.states[found.group(1).decode() if found else "UNKNOWN"] += 1
        give_back(used)

    count = int(rate * duration)
    started = loop.time() + 0.05
    tasks = []
    for index in range(count):
        due = started + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.max_send_lag = max(result.max_send_lag, -delay)
        tasks.append(asyncio.ensure_future(send(index, due)))
    await asyncio.gather(*tasks)
    result.connections = opened
    for used in idle:
        used.close()
    return result


def booking_request(host: str, token: str, event_id: str, request_id: str) -> bytes:
    """POST /v1/bookings, one seat, as the guest with this token."""
    body = f'{{"eventId":"{event_id}","seats":1}}'.encode()
    return (
        f"POST /v1/bookings?requestId={request_id} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
