"""A local SMTP server that keeps every message: `make run` points notifications at it.

Each message is stored as an .eml file under the mail directory and announced with one log line,
so a newcomer sees their verification code without a real mail server.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

CODE = re.compile(r"\b(\d{6})\b")


class MailDirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        (self.directory / name).write_bytes(raw)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = message.get("Subject", "")
        recipients = ", ".join(envelope.rcpt_tos)
        text_part = message.get_body(preferencelist=("plain",))
        body = text_part.get_content() if text_part is not None else ""
        # notifications marks its mail with X-Seatmesh-Kind; other senders get the looser guess.
        kind = message.get("X-Seatmesh-Kind", "")
        wants_code = kind == "VERIFICATION_CODE" if kind else "code" in (subject + body).lower()
        code = CODE.search(subject + " " + body) if wants_code else None
        hint = f"  code {code.group(1)}" if code else ""
        print(f"mail to {recipients}: {subject}{hint}  ({self.directory / name})", flush=True)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    controller = Controller(MailDirHandler(args.dir), hostname=args.host, port=args.port)
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
