"""SMS behind a provider interface: `console` for development, `http` for a JSON gateway.

The http provider POSTs {"id", "to", "text"} to SEATMESH_SMS_GATEWAY_URL with the delivery id as
`Idempotency-Key`, so a gateway that honours it sends a retried message once.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from services.notifications.channels import ChannelUnavailable, RecipientRefused
from services.notifications.domain.kinds import WRITTEN_KINDS
from services.notifications.domain.messages import Content
from services.notifications.mailer import templates_environment
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


class SmsProvider(Protocol):
    async def send(self, *, delivery_id: str, to: str, text: str, code: str) -> None:
        """Returns once the provider took the message; raises ChannelUnavailable/RecipientRefused.

        `code`: the verification code `text` carries ("" when none), which a provider that writes
        messages anywhere but to the recipient must leave out.
        """

    async def close(self) -> None: ...


class ConsoleSms:
    """Development: the message goes to the log (and the terminal), nowhere else.

    It is the default provider, so it also runs where nobody configured a gateway: there a
    verification code is withheld from what it writes, since logs are read by more people than the
    code's owner. SEATMESH_DEV_MODE shows it, for local development.
    """

    def __init__(self, *, reveal_codes: bool) -> None:
        self.reveal_codes = reveal_codes

    async def send(self, *, delivery_id: str, to: str, text: str, code: str) -> None:
        if code and not self.reveal_codes:
            text = text.replace(code, "[code withheld; SEATMESH_DEV_MODE=true shows it]")
        log.info("sms (console provider)", extra={"to": to, "text": text, "delivery_id": delivery_id})
        print(f"sms to {to}: {text}", flush=True)

    async def close(self) -> None:
        return None


class HttpSms:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def send(self, *, delivery_id: str, to: str, text: str, code: str) -> None:
        try:
            response = await self.client.post(
                self.url,
                json={"id": delivery_id, "to": to, "text": text},
                headers={"Idempotency-Key": delivery_id},
            )
        except httpx.HTTPError as error:
            raise ChannelUnavailable(f"SMS gateway unreachable: {type(error).__name__}") from None
        if response.is_success:
            return
        detail = f"SMS gateway answered {response.status_code}: {response.text[:200]}"
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise ChannelUnavailable(detail)
        if response.status_code in (401, 403):
            # Our credentials, not this message: every SMS would fail the same way.
            raise ChannelUnavailable(detail)
        raise RecipientRefused(detail, permanent=True)

    async def close(self) -> None:
        await self.client.aclose()


def sms_provider(settings: NotificationsSettings) -> SmsProvider:
    if settings.sms_provider == "http":
        return HttpSms(
            settings.sms_gateway_url, settings.sms_gateway_token.get_secret_value(), settings.sms_timeout
        )
    return ConsoleSms(reveal_codes=settings.dev_mode)


# The longest SMS text: two concatenated segments of plain text (more of them in other scripts).
# Every segment is paid for, so what a producer or sender wrote is cut to fit, never the link.
MAX_SMS_LENGTH = 320


class SmsRenderer:
    def __init__(self) -> None:
        self._template = templates_environment(html=False).get_template("sms.txt.j2")

    def render(self, content: Content, *, code: str) -> str:
        """`code`: the verification code the message carries, opened ("" for any other message)."""
        message = content.title
        if content.kind in WRITTEN_KINDS:
            message = f"{message} — {' '.join(content.paragraphs)}"
        text = self._render(content, code, message)
        overflow = len(text) - MAX_SMS_LENGTH
        if overflow > 0:
            text = self._render(content, code, _shortened(message, len(message) - overflow))
        return text

    def _render(self, content: Content, code: str, message: str) -> str:
        return self._template.render(content=content, code=code, message=message).strip()


def _shortened(text: str, length: int) -> str:
    return text[: max(0, length - 1)].rstrip() + "…"
