"""The local mailbox: every email the SMTP sink kept, readable in a browser (`make run` only).

`make run` sends every email to scripts/smtp_sink.py, which keeps each as an .eml file under
var/mail/. This page lists them, newest first, and shows each one's text (verification codes
included), so a person can sign up and follow the whole product in the browser, without reading
files or the terminal. It binds to loopback only and serves nothing but that directory's messages.

    python -m scripts.mailbox --dir var/mail --port 8025
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# What the SMTP sink names its files (and the local admin's note): nothing else is ever opened.
MESSAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.eml$")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>
body{{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1b1b}}
table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:1rem;border-radius:.3rem}}a{{color:#0b57d0}}
</style></head><body><main>{body}</main></body></html>"""


def _message(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


def messages(directory: Path) -> list[Path]:
    """The kept messages, newest first."""
    if not directory.is_dir():
        return []
    found = [path for path in directory.iterdir() if MESSAGE_NAME.match(path.name)]
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)


def list_page(directory: Path) -> str:
    rows = []
    for path in messages(directory):
        message = _message(path)
        sent = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        subject = html.escape(str(message["Subject"] or "(no subject)"))
        rows.append(
            f"<tr><td>{html.escape(sent)}</td><td>{html.escape(str(message['To'] or ''))}</td>"
            f'<td><a href="/m/{html.escape(path.name)}">{subject}</a></td></tr>'
        )
    table = (
        "<table><thead><tr><th>Sent</th><th>To</th><th>Subject</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No email yet. Sign up in the console and the code arrives here.</p>"
    )
    body = f"<h1>Local mailbox</h1><p>Every email <code>make run</code> sent, newest first.</p>{table}"
    return PAGE.format(title="Local mailbox", body=body)


def message_page(path: Path) -> str:
    message = _message(path)
    headers = "".join(
        f"<dt>{name}</dt><dd>{html.escape(str(message[name] or ''))}</dd>"
        for name in ("From", "To", "Subject")
    )
    subject = html.escape(str(message["Subject"] or "(no subject)"))
    body = (
        f'<p><a href="/">All messages</a></p><h1>{subject}</h1>'
        f"<dl>{headers}</dl><pre>{html.escape(_text_of(message))}</pre>"
    )
    return PAGE.format(title=subject, body=body)


def handler_for(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._answer(HTTPStatus.OK, list_page(directory))
                return
            name = self.path.removeprefix("/m/")
            if self.path.startswith("/m/") and MESSAGE_NAME.match(name) and (directory / name).is_file():
                self._answer(HTTPStatus.OK, message_page(directory / name))
                return
            self._answer(HTTPStatus.NOT_FOUND, PAGE.format(title="Not found", body="<p>No such message.</p>"))

        def _answer(self, status: HTTPStatus, page: str) -> None:
            body = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler_for(directory))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    server = serve(args.dir, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
