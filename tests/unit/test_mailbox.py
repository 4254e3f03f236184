"""The local mailbox shows the SMTP sink's mail in a browser, and nothing but that."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.mailbox import serve


def _mail(subject: str, body: str, to: str = "ada@example.com") -> bytes:
    return (
        f"From: seatmesh <no-reply@seatmesh.localhost>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (tmp_path / "20261201T100000-aaaa.eml").write_bytes(_mail("123456 is your code", "Your code: 123456"))
    (tmp_path / "20261201T100001-bbbb.eml").write_bytes(_mail("<script>alert(1)</script>", "hi <b>"))
    (tmp_path / "secret.txt").write_text("not a message")
    server = serve(tmp_path, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_the_list_shows_every_message_escaped_and_each_opens_with_its_text(mailbox: tuple[str, Path]) -> None:
    url, _ = mailbox
    page = httpx.get(url + "/").text
    assert "123456 is your code" in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    opened = httpx.get(url + "/m/20261201T100000-aaaa.eml")
    assert opened.status_code == 200
    assert "Your code: 123456" in opened.text
    assert "hi &lt;b&gt;" in httpx.get(url + "/m/20261201T100001-bbbb.eml").text


@pytest.mark.parametrize(
    "path", ["/m/secret.txt", "/m/..%2Fsecret.txt", "/m/../secret.txt", "/m/missing.eml", "/etc"]
)
def test_nothing_but_kept_messages_is_served(mailbox: tuple[str, Path], path: str) -> None:
    url, _ = mailbox
    answer = httpx.get(url + path)
    assert answer.status_code == 404
    assert "not a message" not in answer.text
