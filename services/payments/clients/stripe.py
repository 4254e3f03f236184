"""Stripe's API as payments calls it: Checkout Sessions (create, expire) and refunds (create,
retrieve), through the official `stripe` SDK.

Every POST carries an idempotency key chosen by the caller from what it is doing (`checkout:<payment>:
<n>`, `refund:<refund id>`), so a call repeated after a lost answer, by this process or another
replica, gets Stripe's first answer instead of a second session or a second refund. The SDK retries
network failures with the same key; each call is bounded by `deadline`, retries included.

Stripe's answers become two outcomes the provider acts on: `StripeUnavailable` (Stripe did not
answer, or said to try later: worth another try) and `StripeRefused` (Stripe answered no: another
try with the same request would get the same no).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import stripe

log = logging.getLogger(__name__)


class StripeUnavailable(Exception):
    """Stripe did not answer in time, or answered that it cannot now (5xx, 429)."""


class StripeRefused(Exception):
    """Stripe refused the request (4xx): `code` is Stripe's error code, when it gave one."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class StripeClient:
    def __init__(self, *, api_key: str, api_base: str, deadline: float) -> None:
        self.deadline = deadline
        # The SDK's own client object, pointed at `api_base` (Stripe's, or a stand-in in tests),
        # not at the module-wide stripe.api_base: nothing else in the process is affected.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=stripe.HTTPXClient(timeout=deadline),
            max_network_retries=2,
        )

    async def create_checkout_session(self, params: dict[str, Any], *, idempotency_key: str) -> Any:
        return await self._call(
            self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> Any:
        return await self._call(
            self._client.v1.checkout.sessions.expire_async(
                session_id, options={"idempotency_key": idempotency_key}
            )
        )

    async def create_refund(self, params: dict[str, Any], *, idempotency_key: str) -> Any:
        return await self._call(
            self._client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )

    async def retrieve_refund(self, refund_id: str) -> Any:
        return await self._call(self._client.v1.refunds.retrieve_async(refund_id))

    async def _call(self, request: Any) -> Any:
        try:
            async with asyncio.timeout(self.deadline):
                return await request
        except TimeoutError:
            raise StripeUnavailable("Stripe did not answer in time") from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            raise StripeUnavailable(error.user_message or type(error).__name__) from None
        except stripe.StripeError as error:
            status = error.http_status or 0
            if status >= 500 or status in (0, 409):
                # 409: the same idempotency key is in flight in another request; its answer comes soon.
                raise StripeUnavailable(f"Stripe answered {status}") from None
            code = getattr(error, "code", None) or ""
            log.warning("Stripe refused a request", extra={"status": status, "code": code})
            raise StripeRefused(error.user_message or str(error), code) from None
