"""A local stand-in for Stripe: the few API endpoints seatmesh's stripe provider calls, a checkout
page to pay at, and signed webhooks. `make run` with SEATMESH_PAYMENTS_PROVIDER=stripe starts it
(scripts/mesh.py); the tests start it in-process (`FakeStripe`). No internet involved.

API (as Stripe's reference describes them; form-encoded requests, JSON answers, `Authorization:
Bearer sk_...`, `Idempotency-Key` honoured: the same key and parameters give the first answer, the
same key with other parameters a 400 `idempotency_error`):
  POST /v1/checkout/sessions            create a Checkout Session (mode=payment)
  GET  /v1/checkout/sessions/{id}       retrieve one
  POST /v1/checkout/sessions/{id}/expire
  POST /v1/refunds                      refund a PaymentIntent (all that is left, or `amount`)
  GET  /v1/refunds/{id}

The checkout page (`url` of a session) is plain HTML with Pay and Fail buttons; the same actions
are plain POSTs for tests: `POST /pay/{id}/complete` (paid: checkout.session.completed) and
`POST /pay/{id}/fail` (checkout.session.async_payment_failed). Each webhook is POSTed to the
webhook URL signed as https://docs.stripe.com/webhooks#verify-manually says: header
`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint secret>`;
a delivery that fails is retried with backoff, as Stripe does.

For tests, more than Stripe offers: `?hold=1` on any action records its event without sending it;
`GET /_test/events` lists every event; `POST /_test/events/{id}/deliver` sends one (again: the
same event id, freshly signed), so a test can deliver webhooks twice and out of order;
`POST /_test/sessions/{id}/expire` expires a session as Stripe does on its own;
`POST /_test/sessions/{id}/emit?type=<event type>` records (held unless `hold=0`) an event of that
type about the session as it is, changing nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import itertools
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_VERSION = "2025-09-30.clover"
# Stripe's bounds on a session's expires_at, counted from its creation.
MIN_SESSION_SECONDS = 30 * 60
MAX_SESSION_SECONDS = 24 * 60 * 60
DEFAULT_SESSION_SECONDS = 24 * 60 * 60
# Stripe keeps retrying a webhook for days; the fake keeps at it for about ten minutes (the delay
# doubles up to 5 s), long enough to outlast a payments service busy with a flash sale's backlog.
WEBHOOK_RETRIES = 120


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of `payload`, as Stripe computes it."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if last:
                    node[position] = value
                else:
                    if node[position] is None:
                        node[position] = [] if following is not None and following.isdigit() else {}
                    node = node[position]
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if following is not None and following.isdigit() else {})
    return root


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str = "", kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message, **({"code": code} if code else {})}}


@dataclass
class Delivery:
    event: dict[str, Any]
    attempts: int = 0
    delivered: int = 0
    last_status: int | None = None


@dataclass
class FakeStripeState:
    webhook_url: str
    webhook_secret: str
    public_url: str
    api_key_prefix: str = "sk_"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Delivery] = field(default_factory=dict)
    # Idempotency-Key -> (request fingerprint, status, answer)
    idempotent: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    sequence: itertools.count[int] = field(default_factory=itertools.count)

    # -- API --------------------------------------------------------------------------------------

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(400, "mode: only `payment` is supported here", code="parameter_invalid")
        items = params.get("line_items") or []
        if not items:
            raise StripeError(400, "line_items: at least one is required", code="parameter_missing")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing")
        currencies = {item["price_data"]["currency"] for item in items}
        if len(currencies) != 1:
            raise StripeError(400, "line_items: one currency per session", code="parameter_invalid")
        total = sum(int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)) for item in items)
        now = int(time.time())
        expires_at = int(params.get("expires_at") or now + DEFAULT_SESSION_SECONDS)
        if not now + MIN_SESSION_SECONDS <= expires_at <= now + MAX_SESSION_SECONDS:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be at least 30 minutes and less than 24 hours from "
                "Checkout Session creation.",
                code="parameter_invalid",
            )
        session_id = _id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": total,
            "amount_subtotal": total,
            "currency": currencies.pop(),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "expires_at": expires_at,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.public_url}/pay/{session_id}",
            "line_items_for_page": items,
            "payment_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
        }
        self.sessions[session_id] = session
        return self._public_session(session)

    def session(self, session_id: str) -> dict[str, Any]:
        found = self.sessions.get(session_id)
        if found is None:
            raise StripeError(404, f"No such checkout.session: '{session_id}'", code="resource_missing")
        if found["status"] == "open" and found["expires_at"] <= time.time():
            self._expire(found, hold=False)
        return found

    def expire_session(self, session_id: str, *, hold: bool = False) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                code="checkout_session_not_expirable" if session["status"] == "complete" else "",
            )
        self._expire(session, hold=hold)
        return self._public_session(session)

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent") or ""
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise StripeError(404, f"No such payment_intent: '{intent_id}'", code="resource_missing")
        left = intent["amount_received"] - intent["amount_refunded"]
        amount = int(params.get("amount") or left)
        if amount <= 0 or amount > left:
            raise StripeError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
            )
        intent["amount_refunded"] += amount
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "status": "succeeded",
            "metadata": params.get("metadata") or {},
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return refund

    def refund(self, refund_id: str) -> dict[str, Any]:
        found = self.refunds.get(refund_id)
        if found is None:
            raise StripeError(404, f"No such refund: '{refund_id}'", code="resource_missing")
        return found

    # -- the buyer at the checkout page -----------------------------------------------------------

    def complete(self, session_id: str, *, hold: bool = False) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeError(400, f"This Checkout Session is {session['status']}.")
        intent_id = _id("pi")
        self.payment_intents[intent_id] = {
            "id": intent_id,
            "amount_received": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
            "metadata": session["payment_intent_metadata"],
        }
        session.update(status="complete", payment_status="paid", payment_intent=intent_id)
        self._event("checkout.session.completed", session, hold=hold)
        return session

    def fail(self, session_id: str, *, hold: bool = False) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise StripeError(400, f"This Checkout Session is {session['status']}.")
        session.update(status="complete", payment_status="unpaid")
        self._event("checkout.session.async_payment_failed", session, hold=hold)
        return session

    def emit(self, session: dict[str, Any], event_type: str, *, hold: bool) -> dict[str, Any]:
        """An event of any type about the session as it is now, changing nothing: for tests of
        webhooks that arrive out of order (a stale `checkout.session.expired` after the payment)."""
        return self._event(event_type, session, hold=hold)

    def _expire(self, session: dict[str, Any], *, hold: bool) -> None:
        session["status"] = "expired"
        self._event("checkout.session.expired", session, hold=hold)

    # -- webhooks ---------------------------------------------------------------------------------

    def _public_session(self, session: dict[str, Any]) -> dict[str, Any]:
        return {
            key: value
            for key, value in session.items()
            if key not in ("line_items_for_page", "payment_intent_metadata")
        }

    def _event(self, event_type: str, session: dict[str, Any], *, hold: bool) -> dict[str, Any]:
        event_id = _id("evt")
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": self._public_session(session)},
            "sequence": next(self.sequence),
        }
        self.events[event_id] = Delivery(event)
        if not hold:
            self.deliver_later(event_id)
        return event

    def deliver_later(self, event_id: str) -> None:
        threading.Thread(target=self.deliver, args=(event_id,), daemon=True).start()

    def deliver(self, event_id: str, retries: int = WEBHOOK_RETRIES) -> int:
        """POST the event to the webhook URL until it is accepted (2xx); the last status."""
        delivery = self.events[event_id]
        payload = json.dumps(
            {k: v for k, v in delivery.event.items() if k != "sequence"}, separators=(",", ":")
        )
        delay = 0.2
        status = 0
        for _ in range(retries + 1):
            request = urllib.request.Request(
                self.webhook_url,
                data=payload.encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, self.webhook_secret),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            with self.lock:
                delivery.attempts += 1
                delivery.last_status = status
                if 200 <= status < 300:
                    delivery.delivered += 1
            if 200 <= status < 300:
                return status
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return status

    def event_list(self) -> list[dict[str, Any]]:
        return [
            {
                "id": delivery.event["id"],
                "type": delivery.event["type"],
                "session": delivery.event["data"]["object"]["id"],
                "payment_id": delivery.event["data"]["object"]["metadata"].get("payment_id", ""),
                "attempts": delivery.attempts,
                "delivered": delivery.delivered,
                "last_status": delivery.last_status,
            }
            for delivery in sorted(self.events.values(), key=lambda d: d.event["sequence"])
        ]


def _page(session: dict[str, Any]) -> str:
    amount = session["amount_total"]
    items = "".join(
        f"<li>{html.escape(item['price_data']['product_data']['name'])}</li>"
        for item in session["line_items_for_page"]
    )
    action = f"/pay/{html.escape(session['id'])}"
    if session["status"] != "open":
        body = f"<p>This checkout is {html.escape(session['status'])}.</p>"
    else:
        body = (
            f'<form method="post" action="{action}/complete"><button>Pay</button></form>'
            f'<form method="post" action="{action}/fail"><button>Fail</button></form>'
        )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Fake Stripe checkout</title>"
        f"<h1>Pay {amount} (smallest unit) {html.escape(session['currency'].upper())}</h1>"
        f"<ul>{items}</ul>{body}"
        f'<p><a href="{html.escape(session["cancel_url"])}">Back</a></p></html>'
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, answer: Any) -> None:
        self._send(status, json.dumps(answer).encode(), "application/json")

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode() if length else ""

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/")
        query = dict(urllib.parse.parse_qsl(url.query))
        hold = query.get("hold") in ("1", "true")
        body = self._body() if method == "POST" else ""
        state = self.server.state
        try:
            with state.lock:
                if path.startswith("/v1/"):
                    self._api(method, path, body)
                elif method == "GET" and path.startswith("/pay/"):
                    self._send(
                        200, _page(state.session(path.split("/")[2])).encode(), "text/html; charset=utf-8"
                    )
                elif method == "POST" and path.startswith("/pay/") and path.endswith(("/complete", "/fail")):
                    session_id, action = path.split("/")[2], path.split("/")[3]
                    session = (
                        state.complete(session_id, hold=hold)
                        if action == "complete"
                        else state.fail(session_id, hold=hold)
                    )
                    target = session["success_url"] if action == "complete" else session["cancel_url"]
                    self._send(303, b"", "text/plain", {"Location": target})
                elif method == "GET" and path == "/_test/events":
                    self._json(200, {"data": state.event_list()})
                elif method == "POST" and path.startswith("/_test/events/") and path.endswith("/deliver"):
                    event_id = path.split("/")[3]
                    if event_id not in state.events:
                        raise StripeError(404, f"No such event: '{event_id}'", code="resource_missing")
                    state.lock.release()
                    try:
                        status = state.deliver(event_id, retries=0)
                    finally:
                        state.lock.acquire()
                    self._json(200, {"id": event_id, "status": status})
                elif method == "POST" and path.startswith("/_test/sessions/") and path.endswith("/expire"):
                    self._json(200, state.expire_session(path.split("/")[3], hold=hold))
                elif method == "POST" and path.startswith("/_test/sessions/") and path.endswith("/emit"):
                    session = state.session(path.split("/")[3])
                    self._json(200, state.emit(session, query["type"], hold=query.get("hold") != "0"))
                else:
                    raise StripeError(404, f"Unrecognized request URL ({method}: {url.path}).")
        except StripeError as error:
            self._json(error.status, error.body)
        except (KeyError, ValueError, TypeError) as error:
            self._json(400, StripeError(400, f"Invalid request: {error}").body)

    def _api(self, method: str, path: str, body: str) -> None:
        state = self.server.state
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer " + state.api_key_prefix):
            raise StripeError(401, "Invalid API Key provided.", kind="invalid_request_error")
        params = parse_form(body)
        key = self.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(
            f"{method} {path} {json.dumps(params, sort_keys=True)}".encode()
        ).hexdigest()
        if method == "POST" and key and key in state.idempotent:
            first_fingerprint, status, answer = state.idempotent[key]
            if first_fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    "first used with.",
                    kind="idempotency_error",
                )
            self._json(status, answer)
            return
        parts = path.split("/")[2:]
        if method == "POST" and parts == ["checkout", "sessions"]:
            answer = state.create_session(params)
        elif method == "GET" and len(parts) == 3 and parts[:2] == ["checkout", "sessions"]:
            answer = state._public_session(state.session(parts[2]))
        elif (
            method == "POST"
            and len(parts) == 4
            and parts[:2] == ["checkout", "sessions"]
            and parts[3] == "expire"
        ):
            answer = state.expire_session(parts[2])
        elif method == "POST" and parts == ["refunds"]:
            answer = state.create_refund(params)
        elif method == "GET" and len(parts) == 2 and parts[0] == "refunds":
            answer = state.refund(parts[1])
        else:
            raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")
        if method == "POST" and key:
            state.idempotent[key] = (fingerprint, 200, answer)
        self._json(200, answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: FakeStripeState, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose


class FakeStripe:
    """The fake in a background thread (tests): `FakeStripe.start(webhook_url, secret)`, then
    `.url` is the API base and the checkout pages' host."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @classmethod
    def start(
        cls, webhook_url: str, webhook_secret: str, *, host: str = "127.0.0.1", port: int = 0
    ) -> FakeStripe:
        state = FakeStripeState(webhook_url=webhook_url, webhook_secret=webhook_secret, public_url="")
        server = _Server((host, port), state, verbose=False)
        state.public_url = f"http://{host}:{server.server_address[1]}"
        fake = cls(server)
        fake.thread.start()
        return fake

    @property
    def url(self) -> str:
        return self.server.state.public_url

    @property
    def state(self) -> FakeStripeState:
        return self.server.state

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", required=True, help="where webhooks go (the edge's Stripe route)")
    parser.add_argument("--webhook-secret", required=True, help="the endpoint's signing secret (whsec_...)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    state = FakeStripeState(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        public_url=f"http://{args.host}:{args.port}",
    )
    server = _Server((args.host, args.port), state, verbose=args.verbose)
    print(f"fake Stripe on {state.public_url}, webhooks to {args.webhook_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
