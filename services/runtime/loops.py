"""Background loops, written once: restart after failures with a growing, jittered delay; run a step
every so often (sooner when woken); wait for a wake-up or a timeout.

Every long-running task of a service (relay, consumers, periodic jobs, subscriptions) is one of
these, so they all log, back off and stop the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Delays that double from `initial` up to `maximum`, each with up to 100% jitter added."""

    initial: float = 0.5
    maximum: float = 10.0

    def __post_init__(self) -> None:
        self._current = self.initial

    def next(self) -> float:
        delay = self._current + random.random() * self._current
        self._current = min(self._current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._current = self.initial


async def wait_for_wake(wake: asyncio.Event, seconds: float) -> bool:
    """Wait until `wake` is set or `seconds` passed; clears it. True when woken."""
    woken = False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
        woken = True
    wake.clear()
    return woken


async def supervise(
    body: Callable[[], Awaitable[Any]],
    *,
    what: str,
    backoff: Backoff | None = None,
    on_failure: Callable[[], Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Run `body` for ever; when it fails, log it and start it again after a backoff delay.

    `body` is a long-running coroutine (a subscription, a leader loop). It calls `backoff.reset()`
    itself once it made progress, if it was given the Backoff; otherwise delays reset whenever a
    run lasted long enough to have made progress (it returned normally).
    """
    delays = backoff or Backoff()
    while True:
        try:
            await body()
            delays.reset()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(f"{what} interrupted; retrying", exc_info=True, extra=extra or {})
            if on_failure is not None:
                on_failure()
            await asyncio.sleep(delays.next())


async def every(
    interval: float | Callable[[], float],
    step: Callable[[], Awaitable[Any]],
    *,
    what: str,
    wake: asyncio.Event | None = None,
    first_delay: bool = False,
) -> None:
    """Run `step` now and then every `interval` seconds (sooner when `wake` is set).

    A failing step is logged and tried again at the next round: periodic work never dies.
    """
    if first_delay:
        await _pause(interval, wake)
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(f"{what} failed; will retry", exc_info=True)
        await _pause(interval, wake)


async def _pause(interval: float | Callable[[], float], wake: asyncio.Event | None) -> None:
    seconds = interval() if callable(interval) else interval
    if wake is None:
        await asyncio.sleep(seconds)
    else:
        await wait_for_wake(wake, seconds)
