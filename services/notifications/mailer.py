"""Email: rendering a Content with the jinja2 templates, and sending over SMTP with aiosmtplib.

Every email carries a Message-ID derived from its delivery id. It is the same on every attempt, so
in the one case where a message can go out twice (see delivery.py) the copies are recognisably the
same message to any receiving system that deduplicates on Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from types import TracebackType

import aiosmtplib
import jinja2

from services.notifications.channels import ChannelUnavailable, RecipientRefused
from services.notifications.content import Content, Links
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


def templates_environment(*, html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


class EmailRenderer:
    def __init__(self, *, sender: str, public_url: str) -> None:
        self.sender_name, self.sender_address = parseaddr(sender)
        if "@" not in self.sender_address:
            raise ValueError(f"SEATMESH_SMTP_FROM is not an email address: {sender!r}")
        self.domain = self.sender_address.rsplit("@", 1)[1]
        self.preferences_link = Links(public_url).preferences()
        self._text = templates_environment(html=False).get_template("email.txt.j2")
        self._html = templates_environment(html=True).get_template("email.html.j2")

    def message_id(self, delivery_id: str) -> str:
        return f"<{delivery_id}@{self.domain}>"

    def render(self, content: Content, *, delivery_id: str, to_address: str, to_name: str) -> EmailMessage:
        name = to_name or content.recipient_name
        values = {"content": content, "name": name, "preferences_link": self.preferences_link}
        message = EmailMessage()
        message["From"] = formataddr((self.sender_name, self.sender_address))
        message["To"] = formataddr((name, to_address)) if name else to_address
        message["Subject"] = content.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = self.message_id(delivery_id)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Seatmesh-Kind"] = content.kind_name
        if not content.transactional:
            message["List-Unsubscribe"] = f"<{self.preferences_link}>"
        message.set_content(self._text.render(values))
        message.add_alternative(self._html.render(values), subtype="html")
        return message


def valid_address(address: str) -> bool:
    try:
        parsed = Address(addr_spec=address)
    except Exception:
        return False
    return bool(parsed.username and parsed.domain)


class SmtpMailer:
    """Opens SMTP sessions as configured (STARTTLS/TLS, login when a username is set)."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.envelope_sender = parseaddr(settings.smtp_from)[1]

    def session(self) -> SmtpSession:
        return SmtpSession(self)

    def client(self) -> aiosmtplib.SMTP:
        settings = self.settings
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() or None,
            use_tls=settings.smtp_tls,
            # False (not None): never upgrade unless configured, so a plain local sink just works.
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )


class SmtpSession:
    """One SMTP connection reused for a run of messages; connects on the first send."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except Exception:
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        client = self.mailer.client()
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            client.close()
            raise ChannelUnavailable(f"SMTP server unreachable: {_describe(error)}") from None
        self._client = client
        return client

    async def send(self, message: EmailMessage, to_address: str) -> None:
        """Returns once the server accepted the message (250 after DATA); raises otherwise."""
        client = await self._connected()
        try:
            # One deadline for the whole transaction, so the worker knows how long a send can take.
            async with asyncio.timeout(self.mailer.settings.smtp_timeout):
                await client.send_message(
                    message, sender=self.mailer.envelope_sender, recipients=[to_address]
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            detail = "; ".join(f"{refusal.code} {refusal.message}" for refusal in error.recipients)
            raise RecipientRefused(
                f"recipient refused: {detail}", permanent=all(code >= 500 for code in codes)
            ) from None
        except aiosmtplib.SMTPDataError as error:
            if error.code == 421:
                await self.close()
                raise ChannelUnavailable(f"SMTP server closing: {_describe(error)}") from None
            raise RecipientRefused(
                f"message refused: {_describe(error)}", permanent=error.code >= 500
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            # The server refuses our sender or the session (421, auth): nothing to do with this
            # message, every other one would fail the same way.
            await self.close()
            raise ChannelUnavailable(f"SMTP server refused the session: {_describe(error)}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # Disconnected or timed out, possibly after the server took the message: we cannot
            # know, so it is retried (same Message-ID).
            await self.close()
            raise ChannelUnavailable(f"SMTP connection failed: {_describe(error)}") from None


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"[:300]
    return (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:300]
