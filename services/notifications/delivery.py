"""The delivery worker: sends due email and SMS deliveries, once each, with retries.

What "exactly once" means here, honestly
-----------------------------------------
Nothing is lost and nothing committed is sent again:
- A delivery row is created in the same transaction as the bus inbox entry, unique per
  (message = source event + kind, channel, recipient): redelivered bus messages add nothing.
- A worker claims due rows (FOR UPDATE SKIP LOCKED) in one statement that counts the attempt and
  leases the row; then, for each message on its own: send, and as soon as the server accepted it
  (SMTP 250 after DATA), commit SENT in one statement of its own. A SENT row is never sent again.
- A worker that dies mid-batch leaves its rows leased; after the lease they are due again and are
  sent by whoever is alive. Rows it never sent go out exactly once.

The one window that cannot be closed is between the server accepting a message and our commit
of SENT (a few milliseconds per message; the DB write is retried while the lease lasts): a crash
exactly there sends that one message again. SMTP has no two-phase commit, so no client can close
it; we keep it minimal and make the resend recognisable: every attempt of a delivery carries the
same Message-ID (<delivery-id@domain>), which receiving systems deduplicate on, and the SMS gateway
gets the delivery id as Idempotency-Key. The same applies when the connection drops after DATA
before the reply arrives. So: exactly once for every message whose acceptance we recorded, at
least once (never zero times) for the rest, with a stable id for deduplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from services.notifications.channels import ChannelUnavailable, RecipientRefused
from services.notifications.clients.users import UsersClient
from services.notifications.codes import CodeOpener
from services.notifications.domain.kinds import SENT_CHANNELS, Channel, DeliveryState
from services.notifications.domain.records import ClaimedDelivery, Contact
from services.notifications.domain.rules import (
    retry_delay,
    state_after_refusal,
    unverified_number,
    why_hopeless,
)
from services.notifications.mailer import EmailRenderer, SmtpMailer, SmtpSession, valid_address
from services.notifications.metrics import DELIVERIES, DELIVERY_SECONDS
from services.notifications.settings import NotificationsSettings
from services.notifications.sms import SmsProvider, SmsRenderer
from services.notifications.store import NotificationStore
from services.runtime import tracing
from services.runtime.loops import Backoff, supervise, wait_for_wake

log = logging.getLogger(__name__)

# Where the users directory's outages are counted, beside the channels'.
DIRECTORY = "directory"


class DeliveryWorker:
    def __init__(
        self,
        *,
        store: NotificationStore,
        settings: NotificationsSettings,
        users: UsersClient,
        mailer: SmtpMailer,
        renderer: EmailRenderer,
        sms: SmsProvider,
        codes: CodeOpener,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.users = users
        self.mailer = mailer
        self.renderer = renderer
        self.sms = sms
        self.codes = codes
        self.sms_renderer = SmsRenderer()
        self.wake = wake or asyncio.Event()
        # Per channel: consecutive outages (for the backoff) and until when not to try it.
        self._outages: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}
        # Restarts after a failure of the worker itself (the database is away).
        self._backoff = Backoff(initial=0.5, maximum=10.0)

    # -- loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await supervise(self._work, what="delivery worker", backoff=self._backoff)
        finally:
            self.mailer.abandon()

    async def _work(self) -> None:
        while True:
            handled = await self.run_once()
            self._backoff.reset()
            if handled < self.settings.delivery_batch_size:
                await wait_for_wake(self.wake, self._idle_wait())

    def _idle_wait(self) -> float:
        now = asyncio.get_running_loop().time()
        paused = [until - now for until in self._paused_until.values() if until > now]
        return max(0.05, min([self.settings.delivery_poll_interval, *paused]))

    async def run_once(self) -> int:
        """Claim one batch and see every delivery in it to an outcome; returns how many were claimed."""
        loop = asyncio.get_running_loop()
        channels = [
            channel for channel in SENT_CHANNELS if self._paused_until.get(channel, 0.0) <= loop.time()
        ]
        if not channels:
            return 0
        claimed = await self.store.claim_deliveries(
            channels=channels,
            limit=self.settings.delivery_batch_size,
            lease=self.settings.delivery_lease,
        )
        if not claimed:
            return 0
        # No send may start after this, so none can still run when the lease ends and another
        # worker takes the row.
        deadline = loop.time() + self.settings.delivery_lease - self.settings.send_budget
        live = await self._drop_hopeless(claimed)
        contacts: dict[str, Contact] = {}
        if any(delivery.address is None for delivery in live):
            try:
                contacts = await self.users.contacts(
                    {str(delivery.recipient_id) for delivery in live if delivery.address is None}
                )
            except ChannelUnavailable as error:
                waiting = [delivery for delivery in live if delivery.address is None]
                await self._release(waiting, str(error), self._backoff_for(DIRECTORY))
                live = [delivery for delivery in live if delivery.address is not None]
            else:
                self._outages.pop(DIRECTORY, None)
        emails = [delivery for delivery in live if delivery.channel is Channel.EMAIL]
        texts = [delivery for delivery in live if delivery.channel is Channel.SMS]
        lanes = [
            emails[index :: self.settings.delivery_concurrency]
            for index in range(self.settings.delivery_concurrency)
        ]
        await asyncio.gather(
            *(self._send_emails(lane, contacts, deadline) for lane in lanes if lane),
            self._send_texts(texts, contacts, deadline),
        )
        return len(claimed)

    async def _drop_hopeless(self, claimed: Sequence[ClaimedDelivery]) -> list[ClaimedDelivery]:
        """End deliveries that must not be sent any more; return the rest."""
        now = datetime.now(UTC)
        live = []
        for delivery in claimed:
            reason = why_hopeless(delivery, now=now, max_attempts=self.settings.delivery_max_attempts)
            if reason is None:
                live.append(delivery)
            else:
                await self._expire(delivery, reason)
        return live

    # -- channels -------------------------------------------------------------------------------

    async def _send_emails(
        self, batch: Sequence[ClaimedDelivery], contacts: dict[str, Contact], deadline: float
    ) -> None:
        async with self.mailer.session() as session:

            def send(delivery: ClaimedDelivery) -> Coroutine[Any, Any, None]:
                return self._send_email(session, delivery, contacts.get(str(delivery.recipient_id)))

            await self._send_lane(batch, Channel.EMAIL, send, deadline)

    async def _send_texts(
        self, batch: Sequence[ClaimedDelivery], contacts: dict[str, Contact], deadline: float
    ) -> None:
        def send(delivery: ClaimedDelivery) -> Coroutine[Any, Any, None]:
            return self._send_text(delivery, contacts.get(str(delivery.recipient_id)))

        await self._send_lane(batch, Channel.SMS, send, deadline)

    async def _send_lane(
        self,
        batch: Sequence[ClaimedDelivery],
        channel: Channel,
        send: Callable[[ClaimedDelivery], Coroutine[Any, Any, None]],
        deadline: float,
    ) -> None:
        """One after the other; when the channel turns out to be down, the rest wait for it."""
        loop = asyncio.get_running_loop()
        for index, delivery in enumerate(batch):
            if loop.time() > deadline:
                await self._release(batch[index:], "lease ran out before sending", 0.0)
                return
            try:
                await _uninterrupted(send(delivery), self.settings.send_budget + 5)
            except ChannelUnavailable as error:
                await self._release(batch[index:], str(error), self._backoff_for(channel))
                return

    async def _send_email(
        self, session: SmtpSession, delivery: ClaimedDelivery, contact: Contact | None
    ) -> None:
        address = delivery.address or (contact.email if contact else "")
        if not address or not valid_address(address):
            await self._refused(
                delivery, address or None, _unreachable(delivery, contact, "valid email address")
            )
            return

        async def send(code: str) -> None:
            message = self.renderer.render(
                delivery.content,
                code=code,
                delivery_id=str(delivery.id),
                to_address=address,
                to_name=contact.display_name if contact else "",
            )
            await session.send(message, address)

        await self._deliver(delivery, address, send)

    async def _send_text(self, delivery: ClaimedDelivery, contact: Contact | None) -> None:
        phone = delivery.address or (contact.phone if contact else "")
        if not phone:
            await self._refused(delivery, None, _unreachable(delivery, contact, "phone number"))
            return
        if unverified_number(delivery, contact):
            # Not sent, for good, and the admins' delivery list says why.
            await self._refused(
                delivery,
                phone,
                RecipientRefused(
                    "phone number not verified: SMS go only to verified numbers", permanent=True
                ),
            )
            return

        async def send(code: str) -> None:
            text = self.sms_renderer.render(delivery.content, code=code)
            await self.sms.send(delivery_id=str(delivery.id), to=phone, text=text, code=code)

        await self._deliver(delivery, phone, send)

    async def _deliver(
        self, delivery: ClaimedDelivery, address: str, send: Callable[[str], Awaitable[None]]
    ) -> None:
        """Open the message's verification code (if any), send, then record the outcome: SENT the
        moment the channel took it, or the refusal.

        A channel that is down (ChannelUnavailable) is not this delivery's outcome: it propagates
        and the lane's deliveries wait for the channel. Whatever a server or gateway answered is
        recorded without the code, should it quote the message.
        """
        code = ""
        try:
            code = self.codes.open(delivery)
            with tracing.resumed(
                delivery.traceparent,
                f"send {delivery.channel.value.lower()}",
                {
                    "messaging.destination.name": delivery.channel.value,
                    "seatmesh.delivery_id": str(delivery.id),
                },
            ):
                await send(code)
        except asyncio.CancelledError:
            raise
        except ChannelUnavailable as error:
            raise ChannelUnavailable(_without(str(error), code)) from None
        except RecipientRefused as error:
            await self._refused(
                delivery, address, RecipientRefused(_without(str(error), code), permanent=error.permanent)
            )
            return
        except Exception as error:
            log.error(
                "delivery failed unexpectedly",
                exc_info=True,
                extra={"delivery_id": str(delivery.id), "channel": delivery.channel},
            )
            internal = RecipientRefused(f"internal error: {type(error).__name__}", permanent=False)
            await self._refused(delivery, address, internal)
            return
        self._outages.pop(delivery.channel, None)
        await self._mark_sent(delivery, address)

    # -- outcomes -------------------------------------------------------------------------------

    def _backoff_for(self, channel: str) -> float:
        """The channel is down: pause it (with growing, jittered delays) and say for how long."""
        now = asyncio.get_running_loop().time()
        if self._paused_until.get(channel, 0.0) > now:
            # Another lane of the same batch found it down already: one outage, one step.
            return self._paused_until[channel] - now
        outages = self._outages.get(channel, 0) + 1
        self._outages[channel] = outages
        delay = retry_delay(
            outages, base=self.settings.delivery_retry_base, cap=self.settings.delivery_retry_max
        )
        if channel in SENT_CHANNELS:
            self._paused_until[channel] = now + delay
        return delay

    async def _mark_sent(self, delivery: ClaimedDelivery, address: str) -> None:
        """Commit SENT right away; keep trying through a database blip while the row stays leased
        to us (half the lease), then leave it to be sent again after its lease."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.delivery_lease / 2
        pauses = Backoff(initial=0.1, maximum=2.0)
        while True:
            try:
                await self.store.mark_sent(delivery, address)
            except Exception:
                if loop.time() > give_up:
                    log.error(
                        "could not record a sent delivery; it will be sent again after its lease",
                        exc_info=True,
                        extra={"delivery_id": str(delivery.id)},
                    )
                    return
                await asyncio.sleep(pauses.next())
            else:
                DELIVERIES.labels(delivery.channel, "sent").inc()
                DELIVERY_SECONDS.labels(delivery.channel).observe(
                    max((datetime.now(UTC) - delivery.created_at).total_seconds(), 0.0)
                )
                return

    async def _refused(self, delivery: ClaimedDelivery, address: str | None, error: RecipientRefused) -> None:
        delay = retry_delay(
            delivery.attempts, base=self.settings.delivery_retry_base, cap=self.settings.delivery_retry_max
        )
        state = state_after_refusal(
            delivery.attempts, permanent=error.permanent, max_attempts=self.settings.delivery_max_attempts
        )
        async with self.store.transaction() as tx:
            await tx.mark_refused(delivery, state=state, address=address, error=str(error), retry_in=delay)
        DELIVERIES.labels(delivery.channel, "failed" if state is DeliveryState.FAILED else "retry").inc()
        log.warning(
            "delivery refused",
            extra={
                "delivery_id": str(delivery.id),
                "state": state,
                "attempts": delivery.attempts,
                "error": str(error),
            },
        )

    async def _release(self, batch: Sequence[ClaimedDelivery], error: str, retry_in: float) -> None:
        if not batch:
            return
        async with self.store.transaction() as tx:
            await tx.release(batch, error=error, retry_in=retry_in, max_age=self.settings.delivery_max_age)
        for delivery in batch:
            DELIVERIES.labels(delivery.channel, "waiting").inc()
        log.warning(
            "channel unavailable; deliveries wait",
            extra={"count": len(batch), "error": error, "retry_in": round(retry_in, 2)},
        )

    async def _expire(self, delivery: ClaimedDelivery, reason: str) -> None:
        async with self.store.transaction() as tx:
            await tx.expire(delivery, reason)
        DELIVERIES.labels(delivery.channel, "failed").inc()


def _without(text: str, code: str) -> str:
    return text.replace(code, "[code]") if code else text


def _unreachable(delivery: ClaimedDelivery, contact: Contact | None, what: str) -> RecipientRefused:
    if contact is None and delivery.address is None:
        return RecipientRefused("recipient unknown to the users service", permanent=True)
    return RecipientRefused(f"recipient has no {what}", permanent=True)


async def _uninterrupted(send: Coroutine[Any, Any, None], grace: float) -> None:
    """Run one send-and-record to its end even if the worker is cancelled meanwhile (SIGTERM).

    Cancelling between the server's acceptance and our commit would leave an accepted message
    unrecorded, to be sent again after its lease; so a shutdown waits for the message in flight
    (at most `grace` seconds: one send and its commit) and then stops.
    """
    task = asyncio.ensure_future(send)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            log.warning("stopping: finishing the message in flight first")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=grace)
        raise
