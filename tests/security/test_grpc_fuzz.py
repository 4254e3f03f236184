"""A contract-driven gRPC fuzz, one test per service. Every RPC of the service gets requests
generated from its request message's descriptor (strategies.py): whole requests, plausible or
hostile throughout, then, for every field path of the message, requests plausible but for that one
field (boundary lengths and numbers, control characters, forged and truncated page tokens,
timestamps past their range, repeated fields over their caps; for Stripe's webhook, signed events
with one hostile member). They go over native gRPC to the service's own port, as the callers the
authorization matrix lets call the RPC (authorization.md), with the ids of a world of the fuzz's own
mixed in so that requests get past "not found" into the handlers. Then bytes that are no request at
all, directly and through Envoy.

What must never happen, whatever the request: an answer INTERNAL, UNKNOWN or DATA_LOSS, or one whose
message or details carry exception text (a class name, a traceback, a file path, SQL); an answer may
echo what the client sent, so the request's own strings are taken out before looking. Nor may the
service log an exception nothing handled, whatever the client saw.

`make test` runs it bounded: SEATMESH_FUZZ_EXAMPLES whole requests per RPC (30 by default) and a
fifth of that per field path, from a fixed seed (SEATMESH_FUZZ_SEED), so a failure replays exactly.
A longer run raises the first, and then also shrinks what it finds to a minimal request:

    SEATMESH_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/security/test_grpc_fuzz.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from scripts.envoy_config import SERVICES
from scripts.fake_stripe import sign
from scripts.mesh import Mesh
from tests.security import matrix
from tests.security.contract import Rpc, rpcs
from tests.security.strategies import Hints, RequestStrategies, strings_of
from tests.security.transport import MeshClient, Outcome, Via
from tests.security.world import Caller, Setup, ok, sign_in_everyone, until

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("SEATMESH_FUZZ_EXAMPLES", "30"))
# And per field path, requests plausible but for that field.
EXAMPLES_PER_FIELD = max(3, EXAMPLES // 5)
SEED = int(os.environ.get("SEATMESH_FUZZ_SEED", "20261201"))
# Shrinking a failure against live services takes many calls: only for runs asked to be long.
SHRINK = EXAMPLES > 100

# A stream that has not failed this soon was accepted (a bad request fails before it starts).
STREAM_WINDOW = 0.3
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
# Exception text in an answer: a traceback, a class name, a source file, a library's name, SQL,
# a path of the machine, an object's address.
LEAKS = re.compile(
    "|".join(
        [
            r"Traceback",
            r'File "',
            r"\b\w+\.py\b",
            r"<class '",
            r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b",
            r"\b(?:psycopg|sqlalchemy|asyncpg|alembic|pydantic|google\.protobuf|grpc\._)",
            r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT INTO\b|\bUPDATE\b[\s\S]*\bSET\b|\bDELETE FROM\b",
            r"/work/|/usr/lib|site-packages|/tmp/",
            r"\bat 0x[0-9a-f]+",
        ]
    )
)
# Bytes no request message decodes from: a bad wire type, a length past the end, a truncated
# varint, a string field that is not UTF-8, a group, a field number 0.
RAW_REQUESTS = (
    b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x0a\x05ab",
    b"\x08\xff\xff",
    b"\x0a\x02\xc3\x28",
    b"\x0b\x0c",
    b"\x00\x00",
    b"\xff" * 32,
)
_HEADER_TEXT = st.text(alphabet=[chr(code) for code in range(0x20, 0x7F)], max_size=300)


@dataclass(frozen=True)
class FuzzWorld:
    mesh: Mesh
    client: MeshClient
    people: dict[str, Caller]
    hints: Hints

    @property
    def webhook_secret(self) -> str:
        return self.mesh.service_env["SEATMESH_STRIPE_WEBHOOK_SECRET"]


def _page_token(rest: httpx.Client, path: str, who: Caller, **params: Any) -> str:
    return str(ok(rest.get(path, params={"pageSize": 1, **params}, headers=who.headers))["nextPageToken"])


@pytest.fixture(scope="module")
def fuzz_world(security_mesh: Mesh, rest: httpx.Client, client: MeshClient) -> FuzzWorld:
    """People of its own (nobody else's data is fuzzed) and a little of everything they can own."""
    people = sign_in_everyone(security_mesh, rest, prefix="Fuzz ")
    setup = Setup(rest)
    guest, organizer = people["participant"], people["organizer"]
    events = [
        setup.event(organizer),
        setup.event(organizer),
        setup.event(organizer, requiresApproval=True),
        setup.event(organizer, price={"currencyCode": "EUR", "units": "12"}),
    ]
    bookings = [setup.book(guest, event["id"]) for event in events]
    setup.book(people["participant 2"], events[0]["id"])
    paid = until(
        lambda: (found := setup.booking(guest, bookings[-1]["id"]))["paymentId"] and found,
        "the fuzz world's checkout opened",
    )
    notices = until(
        lambda: ok(rest.get("/v1/notifications", headers=guest.headers))["notifications"],
        "the fuzz world's notifications",
    )
    tokens = [
        _page_token(rest, "/v1/events", guest),
        _page_token(rest, "/v1/events", guest, orderBy="rating desc"),
        _page_token(rest, "/v1/tags", guest),
        _page_token(rest, "/v1/bookings", guest),
        _page_token(rest, "/v1/notifications", guest),
        _page_token(rest, "/v1/users", people["admin"]),
    ]
    ids = {
        "user": [caller.id for caller in people.values() if caller.id],
        "event": [event["id"] for event in events],
        "booking": [booking["id"] for booking in bookings],
        "payment": [paid["paymentId"]],
        "notification": [notice["id"] for notice in notices],
    }
    emails = [caller.account.email for caller in people.values() if caller.account is not None]
    return FuzzWorld(security_mesh, client, people, Hints(ids, emails, [token for token in tokens if token]))


def leaked(outcome: Outcome, request_strings: list[str]) -> str | None:
    """Exception text in what the client sees, after removing what the client itself sent."""
    text = outcome.client_visible_text()
    # Short strings ("e", "0") would take letters out of the very words looked for.
    for sent in (sent for sent in request_strings if len(sent) >= 4):
        for form in {sent, sent.lower(), repr(sent)[1:-1], json.dumps(sent)[1:-1]}:
            text = text.replace(form, "")
    found = LEAKS.search(text)
    return f"{found[0]!r} in {text[:600]!r}" if found else None


def problem(outcome: Outcome, request: Message | None) -> str | None:
    if outcome.code in FORBIDDEN:
        return f"{outcome.code.name}: {outcome.message[:600]!r}"
    leak = leaked(outcome, strings_of(request) if request is not None else [])
    return f"{outcome.code.name} leaks {leak}" if leak else None


def _metadata(
    draw: st.DrawFn, world: FuzzWorld, rpc: Rpc, request: Message, caller: Caller
) -> list[tuple[str, str]]:
    metadata = list(caller.metadata)
    if draw(st.booleans()):
        metadata.append(("x-request-id", draw(_HEADER_TEXT)))
    if rpc.name == "ReceiveStripeWebhook":
        # Most webhooks signed as Stripe signs them, so the payload's parsing is reached.
        body = request.payload.data.decode("utf-8", errors="replace")  # type: ignore[attr-defined]
        signature = draw(
            st.one_of(
                st.just(sign(body, world.webhook_secret)),
                st.just(sign(body, world.webhook_secret)),
                st.just(sign(body, world.webhook_secret, timestamp=1)),
                _HEADER_TEXT,
            )
        )
        metadata.append(("stripe-signature", signature))
    return metadata


def _shown(request: Message) -> str:
    try:
        return text_format.MessageToString(request, as_utf8=True)[:1500]
    except DecodeError:
        # An Any whose bytes are not the type its URL names: printing would parse them.
        return repr(request.SerializeToString()[:1500])


def fuzz(
    world: FuzzWorld, rpc: Rpc, callers: list[Caller], requests: st.SearchStrategy[Message], examples: int
) -> None:
    """`examples` requests to `rpc`; raises AssertionError describing the first bad answer."""
    phases = (Phase.explicit, Phase.generate, *((Phase.shrink,) if SHRINK else ()))

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        request = data.draw(requests, label="request")
        caller = data.draw(st.sampled_from(callers), label="caller")
        metadata = data.draw(
            st.composite(lambda draw: _metadata(draw, world, rpc, request, caller))(), label="metadata"
        )
        outcome = world.client.call(rpc, request, metadata, Via.DIRECT, stream_window=STREAM_WINDOW)
        found = problem(outcome, request)
        sent = [(key, value) for key, value in metadata if key != "authorization"]
        assert found is None, f"{rpc} as {caller.name}: {found}\nrequest: {_shown(request)}\nmetadata: {sent}"

    send()


def fuzz_runs(
    strategies: RequestStrategies, rpc: Rpc
) -> Iterator[tuple[str, st.SearchStrategy[Message], int]]:
    """What one RPC gets: whole requests, plausible or wild; then, for every field path, requests
    plausible but for that field."""
    # A request without fields varies only in its metadata: a few suffice.
    yield (
        "whole requests",
        strategies.requests(rpc.input),
        EXAMPLES if rpc.input.fields else EXAMPLES_PER_FIELD,
    )
    for path in strategies.field_paths(rpc.input):
        yield f"hostile {'.'.join(path)}", strategies.hostile_at(rpc.input, path), EXAMPLES_PER_FIELD


def undecodable(world: FuzzWorld, rpc: Rpc, caller: Caller) -> list[str]:
    """What RAW_REQUESTS get, directly and through the edge: one problem per bad answer."""
    found: list[str] = []
    for via in (Via.DIRECT, Via.EDGE_GRPC):
        for data in RAW_REQUESTS:
            outcome = world.client.call_raw(rpc, data, caller.metadata, via, stream_window=STREAM_WINDOW)
            bad = problem(outcome, None)
            if bad:
                found.append(f"{rpc} via {via.value}, raw {data!r} as {caller.name}: {bad}")
    return found


def unhandled_since(world: FuzzWorld, service: str, offset: int) -> list[str]:
    """Exceptions nothing handled, from the service's log after `offset`: whatever the client saw
    (a stream it had left, say), an exception the interceptor calls unexpected, or one asyncio
    found in an abandoned task, is a defect."""
    log = world.mesh.var / "log" / f"{service}.log"
    with log.open("rb") as lines:
        lines.seek(offset)
        written = lines.read().decode("utf-8", errors="replace").splitlines()
    found = []
    for line in written:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        message = str(record.get("msg", ""))
        if message == "unexpected error" or message.startswith("Task exception was never retrieved"):
            what = f"{service} logged {message.splitlines()[0]!r} ({record.get('method', '')})"
            found.append(f"{what}:\n{record.get('exc', '')}")
    return found


def log_size(world: FuzzWorld, service: str) -> int:
    log = world.mesh.var / "log" / f"{service}.log"
    return log.stat().st_size if log.exists() else 0


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_request_gets_an_internal_error_or_leaks(fuzz_world: FuzzWorld, service: str) -> None:
    rows = matrix.load()
    failures: list[str] = []
    logged_before = log_size(fuzz_world, service)
    for rpc in rpcs(service):
        names = matrix.callers_allowed(rows, service, rpc.name)
        assert names, f"{rpc}: the authorization matrix lets nobody call it"
        callers = [fuzz_world.people[name] for name in names]
        for label, requests, examples in fuzz_runs(RequestStrategies(fuzz_world.hints), rpc):
            try:
                fuzz(fuzz_world, rpc, callers, requests, examples)
            except AssertionError as error:
                failures.append(f"[{label}] {error}")
        failures.extend(undecodable(fuzz_world, rpc, callers[0]))
    failures.extend(unhandled_since(fuzz_world, service, logged_before))
    assert not failures, f"{len(failures)} bad answers from {service}:\n\n" + "\n\n".join(failures)
