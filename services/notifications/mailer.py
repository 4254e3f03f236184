"""Email: rendering a Content with the jinja2 templates, and sending over SMTP with aiosmtplib.

Every email carries a Message-ID derived from its delivery id. It is the same on every attempt, so
in the one case where a message can go out twice (see delivery.py) the copies are recognisably the
same message to any receiving system that deduplicates on Message-ID.

The MIME form (multipart/alternative: text/plain then text/html, both UTF-8) is written out directly
as bytes rather than built with `email.message.EmailMessage`: every message of this service has the
same simple shape, and the email package's header parsing, content manager and generator cost
about as much CPU per message as all the rest of a delivery together. What it did for us is done
here explicitly: RFC 2047 encoded words for non-ASCII headers, folding of long headers, a 7-bit
transfer encoding per part (no server needs 8BITMIME), CRLF line ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import socket
import time
import uuid
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from types import TracebackType

import aiosmtplib
import jinja2
from aiosmtplib import SMTPStatus

from services.notifications.channels import ChannelUnavailable, RecipientRefused
from services.notifications.content import Links
from services.notifications.domain.messages import Content
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"

# RFC 5322: lines SHOULD have at most 78 characters (what headers keep to) and MUST have at most
# 998 (what a 7bit body part keeps to).
LINE_LIMIT = 78
MAX_LINE = 998
# Control characters must not reach a header (CR/LF would start a new header: injection).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# The usual address: dot-atom local part @ dot-atom domain (RFC 5322 3.4.1), ASCII only.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_QUOTED_LOCAL_PART = re.compile(r'^"(?:[^"\\\r\n]|\\.)*"')
_UNSAFE_ON_COMMAND_LINE = re.compile(r'[\s<>"]')


def templates_environment(*, html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


@dataclass(frozen=True)
class Email:
    """One rendered email, as it goes over the wire."""

    data: bytes


class EmailRenderer:
    def __init__(self, *, sender: str, public_url: str) -> None:
        self.sender_name, self.sender_address = parseaddr(sender)
        if "@" not in self.sender_address:
            raise ValueError(f"SEATMESH_SMTP_FROM is not an email address: {sender!r}")
        self.domain = self.sender_address.rsplit("@", 1)[1]
        self.preferences_link = Links(public_url).preferences()
        self._text = templates_environment(html=False).get_template("email.txt.j2")
        self._html = templates_environment(html=True).get_template("email.html.j2")
        self._from = _header("From", _mailbox(self.sender_name, self.sender_address))
        self._unsubscribe = _header("List-Unsubscribe", f"<{self.preferences_link}>")

    def message_id(self, delivery_id: str) -> str:
        return f"<{delivery_id}@{self.domain}>"

    def render(
        self, content: Content, *, code: str, delivery_id: str, to_address: str, to_name: str
    ) -> Email:
        """`code`: the verification code the message carries, opened ("" for any other message)."""
        name = to_name or content.recipient_name
        subject = verification_subject(code) if code else content.title
        values = {
            "content": content,
            "code": code,
            "subject": subject,
            "name": name,
            "preferences_link": self.preferences_link,
        }
        text_encoding, text = _text_body(self._text.render(values))
        html_encoding, html = _html_body(self._html.render(values))
        # "=_" never occurs in quoted-printable or base64 output, and the random part makes a
        # clash with a 7bit text part practically impossible.
        boundary = f"=_{uuid.uuid4().hex}"
        headers = [
            self._from,
            _header("To", _mailbox(name, to_address)),
            _header("Subject", subject),
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {self.message_id(delivery_id)}",
            "Auto-Submitted: auto-generated",
            f"X-Seatmesh-Kind: {content.kind}",
        ]
        if not content.transactional:
            headers.append(self._unsubscribe)
        headers += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"']
        head = "\r\n".join(headers).encode()
        parts = b"".join(
            b'--%s\r\nContent-Type: text/%s; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: %s\r\n\r\n%s\r\n" % (boundary.encode(), subtype, encoding, body)
            for subtype, encoding, body in ((b"plain", text_encoding, text), (b"html", html_encoding, html))
        )
        return Email(b"%s\r\n\r\n%s--%s--\r\n" % (head, parts, boundary.encode()))


def verification_subject(code: str) -> str:
    # The code in the subject: a newcomer sees it in the inbox list (and the development sink
    # announces it from there).
    return f"{code} is your seatmesh verification code"


def _mailbox(name: str, address: str) -> str:
    """'Name <address>' with the name quoted or RFC 2047-encoded as needed; the address alone without."""
    name = _CONTROL.sub(" ", name).strip()
    return formataddr((name, address), charset="utf-8") if name else address


def _header(name: str, value: str) -> str:
    """One header line (folded when long); non-ASCII text as RFC 2047 encoded words."""
    value = _CONTROL.sub(" ", value)
    plain = value.isascii() and "=?" not in value
    if plain and len(name) + 2 + len(value) <= LINE_LIMIT:
        return f"{name}: {value}"
    if name in ("From", "To"):
        # An address must not be split; formataddr already encoded the display name.
        return f"{name}: {value}"
    folded = Header(value, "us-ascii" if plain else "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}"


def _text_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends) of the text/plain part.

    7bit when the text is ASCII (readable as is); otherwise quoted-printable, or base64 when that
    is shorter (text mostly in a non-Latin script).
    """
    data = _lines(text).encode("utf-8")
    if data.isascii() and _fits_7bit(data):
        return b"7bit", data.replace(b"\n", b"\r\n")
    quoted = binascii.b2a_qp(data, istext=True)
    if len(quoted) > len(data) * 4 // 3 + len(data) // 57 + 2:
        return b"base64", base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return b"quoted-printable", quoted.replace(b"\n", b"\r\n")


def _html_body(html: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends) of the text/html part.

    Non-ASCII characters become HTML character references, which mean the same to every HTML
    reader, so the part is plain 7bit (as written, a handful of long lines, cheap to send and to
    receive) unless a line is longer than SMTP allows.
    """
    data = _lines(html).encode("ascii", "xmlcharrefreplace")
    if _fits_7bit(data):
        return b"7bit", data.replace(b"\n", b"\r\n")
    return b"quoted-printable", binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fits_7bit(data: bytes) -> bool:
    """Lines within RFC 5322's hard limit (998 octets before CRLF), no NUL."""
    return b"\0" not in data and max(map(len, data.split(b"\n"))) <= MAX_LINE


def valid_address(address: str) -> bool:
    if _PLAIN_ADDRESS.fullmatch(address):
        return True
    # Anything else (a quoted local part, an address literal...) gets the full RFC 5322 parser,
    # which costs as much as the rest of a send; and what goes on the SMTP command line must not
    # smuggle anything else onto it (no whitespace or brackets outside a quoted local part). ASCII
    # only: this client does not use SMTPUTF8.
    if (
        not address.isascii()
        or _CONTROL.search(address)
        or _UNSAFE_ON_COMMAND_LINE.search(_QUOTED_LOCAL_PART.sub("", address, 1))
    ):
        return False
    try:
        parsed = Address(addr_spec=address)
    except Exception:
        return False
    return bool(parsed.username and parsed.domain)


class SmtpMailer:
    """Opens SMTP sessions as configured (STARTTLS/TLS, login when a username is set).

    Connections outlive a session: one that ended cleanly is kept for the next batch (up to one
    per concurrent lane, for `smtp_idle_timeout` seconds), so a busy worker does not pay a TCP and
    TLS handshake, EHLO and QUIT per batch, nor does the server.
    """

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self.envelope_sender = parseaddr(settings.smtp_from)[1]
        self.reverse_path = f"<{self.envelope_sender}>".encode()
        self.local_hostname: str | None = None
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

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
            local_hostname=self.local_hostname,
        )

    async def connect(self) -> aiosmtplib.SMTP:
        if self.local_hostname is None:
            # What aiosmtplib would look up (in a thread) on every connection otherwise.
            self.local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = self.client()
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                # Now rather than on the first message, which then knows the server's extensions.
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except (aiosmtplib.SMTPException, OSError) as error:
            client.close()
            raise ChannelUnavailable(f"SMTP server unreachable: {_describe(error)}") from None
        return client

    def take_idle(self) -> aiosmtplib.SMTP | None:
        """A kept connection that is still open, or None."""
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self.settings.smtp_idle_timeout:
                return client
            client.close()
        return None

    def keep(self, client: aiosmtplib.SMTP) -> bool:
        """Keep a connection that ended a session cleanly; False when it should be closed."""
        if len(self._idle) >= self.settings.delivery_concurrency or self.settings.smtp_idle_timeout <= 0:
            return False
        self._idle.append((client, time.monotonic()))
        return True

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                if client.is_connected:
                    await client.quit()
            except Exception:
                client.close()

    def abandon(self) -> None:
        """Drop the kept connections without a goodbye (the worker is being cancelled)."""
        idle, self._idle = self._idle, []
        for client, _ in idle:
            client.close()


class SmtpSession:
    """One SMTP connection for a run of messages; connects (or takes a kept one) on the first send."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self._client: aiosmtplib.SMTP | None = None
        # The connection was kept from an earlier session and has not carried a message in this
        # one: the server may have closed it meanwhile without us noticing yet.
        self._untried = False

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.release()
        else:
            await self.close()

    def release(self) -> None:
        """Hand a healthy connection back to the mailer for the next session."""
        client, self._client = self._client, None
        if client is not None and not (client.is_connected and self.mailer.keep(client)):
            client.close()

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
        kept = self.mailer.take_idle()
        self._untried = kept is not None
        self._client = kept or await self.mailer.connect()
        return self._client

    async def send(self, message: Email, to_address: str) -> None:
        """Returns once the server accepted the message (250 after DATA); raises otherwise."""
        try:
            # Connecting plus one message: what the worker budgets for a send (send_budget).
            async with asyncio.timeout(2 * self.mailer.settings.smtp_timeout):
                await self._send(message, to_address)
        except aiosmtplib.SMTPRecipientRefused as error:
            raise RecipientRefused(
                f"recipient refused: {_describe(error)}", permanent=error.code >= 500
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

    async def _send(self, message: Email, to_address: str) -> None:
        client = await self._connected()
        try:
            await self._transaction(client, message, to_address)
        except (
            aiosmtplib.SMTPServerDisconnected,
            ConnectionError,
            aiosmtplib.SMTPResponseException,
        ) as error:
            stale = not isinstance(error, aiosmtplib.SMTPResponseException) or error.code == 421
            if not (self._untried and stale):
                raise
            # A kept connection the server had closed (or answers 421, timeout) after it sat idle:
            # once more on a new one. That fails at MAIL, before the message went anywhere; were
            # it a server dying after taking the message, the copy has the same Message-ID.
            client.close()
            self._client = None
            self._client = client = await self.mailer.connect()
            await self._transaction(client, message, to_address)
        finally:
            self._untried = False

    async def _transaction(self, client: aiosmtplib.SMTP, message: Email, to_address: str) -> None:
        """MAIL, RCPT, DATA: what aiosmtplib's sendmail does, without parsing each address twice
        more with the email package (both were checked already: settings, valid_address)."""
        options = [b"SIZE=%d" % len(message.data)] if client.supports_extension("size") else []
        # One deadline for the whole transaction, so the worker knows how long a send can take.
        async with asyncio.timeout(self.mailer.settings.smtp_timeout):
            try:
                reply = await client.execute_command(b"MAIL", b"FROM:" + self.mailer.reverse_path, *options)
                if reply.code != SMTPStatus.completed:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, self.mailer.envelope_sender)
                reply = await client.execute_command(b"RCPT", b"TO:<%s>" % to_address.encode())
                if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, to_address)
                await client.data(message.data)
            except aiosmtplib.SMTPResponseException:
                # Reset the envelope so the connection can carry the next message.
                with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                    await client.rset()
                raise


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"[:300]
    return (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:300]
