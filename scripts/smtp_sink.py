"""A local SMTP server that keeps every message: `make run` points notifications at it.

Each message is stored as an .eml file under the mail directory and announced with one log line,
so a newcomer sees their verification code without a real mail server. It is also recorded in
`index.tsv` there (`<unix time>\t<X-Seatmesh-Kind>\t<recipients>` per line), which is how the
benchmark learns when the last email of a phase arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import re
import signal
import time
import uuid
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import uvloop
from aiosmtpd.controller import Controller

CODE = re.compile(r"\b(\d{6})\b")


def header_fields(raw: bytes, *names: str) -> dict[str, str]:
    """The named headers of a message (lower-case names; RFC 2047 words decoded), nothing else.

    Announcing a message needs two headers; parsing the whole message with the email package
    cost most of this server's CPU per message.
    """
    end = raw.find(b"\r\n\r\n")
    head = raw[: end if end >= 0 else len(raw)].replace(b"\r\n", b"\n")
    # Unfold continuation lines, then look at "Name: value" lines only.
    head = head.replace(b"\n ", b" ").replace(b"\n\t", b" ")
    wanted = {name.lower() for name in names}
    found: dict[str, str] = {}
    for line in head.split(b"\n"):
        field, colon, value = line.partition(b":")
        name = field.decode("ascii", "replace").strip().lower()
        if colon and name in wanted and name not in found:
            text = value.decode("utf-8", "replace").strip()
            if "=?" in text:
                # A malformed encoded word is shown as it came.
                with contextlib.suppress(Exception):
                    text = str(make_header(decode_header(text)))
            found[name] = text
    return found


def plain_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def verification_code(raw: bytes, subject: str, kind: str) -> str | None:
    """The code a newcomer needs from a verification email (None for any other mail)."""
    # notifications marks its mail with X-Seatmesh-Kind and puts the code in the subject; other
    # senders get the looser guess, which needs the body.
    if kind and kind != "VERIFICATION_CODE":
        return None
    found = CODE.search(subject) if kind else None
    if found is None:
        text = subject + " " + plain_text(raw)
        if kind or "code" in text.lower():
            found = CODE.search(text)
    return found.group(1) if found else None


class MailDirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # Kept open, one line written (and flushed) per message.
        self.index = (directory / "index.tsv").open("a", buffering=1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        (self.directory / name).write_bytes(raw)
        headers = header_fields(raw, "Subject", "X-Seatmesh-Kind")
        subject, kind = headers.get("subject", ""), headers.get("x-seatmesh-kind", "")
        code = verification_code(raw, subject, kind)
        hint = f"  code {code}" if code else ""
        recipients = ", ".join(envelope.rcpt_tos)
        self.index.write(f"{time.time():.6f}\t{kind}\t{recipients}\n")
        print(f"mail to {recipients}: {subject}{hint}  ({self.directory / name})", flush=True)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    # uvloop: the SMTP conversation is most of what this process does per message.
    controller = Controller(
        MailDirHandler(args.dir), hostname=args.host, port=args.port, loop=uvloop.new_event_loop()
    )
    controller.start()
    print(f"SMTP sink on {args.host}:{args.port}, storing mail in {args.dir}", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
