"""Hypothesis strategies for any request message, built from its descriptor: nothing here names an
RPC, so every field of every request (nested messages and repeated fields included) is fuzzed,
and a field added to a .proto tomorrow is fuzzed without anyone writing a line.

Every field has plausible values (what a well-behaved client sends: ids of things the fuzz world
made, short text, defined enum values, times in the near future and in field order, so a start
comes before its end; the fields the server fills in, per google.api.field_behavior, left out) and
hostile ones, chosen by the field's type and, for a few kinds of field, its name: lengths and
numbers at and beyond the edges the contract's comments name, the worst first; ids random and
malformed; page tokens genuine (of other lists), forged, truncated, random bytes; control
characters (NUL included: invalid UTF-8 cannot be sent in a proto string, NUL can); timestamps and
durations at the ends of their range and past them; repeated fields at exactly their documented cap
and one more (copies of one item: duplicates are a case of their own). `RequestStrategies` makes
requests wholly plausible, wholly hostile, or plausible but for one field path.
"""

from __future__ import annotations

import base64
import enum
import json
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import field_mask_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

# Lengths at and just past the limits the contracts document (1–100, 200, 254, 300, 500, 1,000,
# 2,000, 5,000, 20,000 ...), and far past them.
LENGTHS = (1, 2, 6, 10, 49, 50, 51, 100, 101, 128, 129, 160, 161, 200, 201, 254, 255, 256, 257, 300)
LENGTHS += (301, 320, 321, 500, 501, 512, 513, 1000, 1001, 2000, 2001, 5000, 5001, 20_000, 20_001, 100_001)
# Items of a repeated field: its documented caps (3 channels, 10 and 20 tags, 15 mask paths, 1,000
# ids) and one more.
COUNTS = (3, 4, 10, 11, 15, 16, 20, 21, 100, 101, 1000, 1001)
CONTROL_CHARACTERS = ("\x00", "\x01", "\x07", "\x08", "\x0b", "\x1b", "\x7f", "\x85", "\x9f")
# Text that has broken parsers, queries and templates elsewhere; a service must treat it as text.
NASTY = (
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "%s%s%s%n",
    "{0.__class__}",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "%FF%FE",
    "\u202e\u2066",
    "\ufeff",
    "\u2028\u2029",
    "😀" * 3,
    "ﷺ" * 5,
    "é" * 3,
    " ",
    "\t\n\r",
    "null",
    "true",
    "0",
    "-1",
    "NaN",
)
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31 (Timestamp's range)
MAX_DURATION_SECONDS = 315_576_000_000
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
YEAR = 365 * 24 * 3600

# The issue's forged token: a sort key of the wrong types, base64url, no MAC.
ISSUE_TOKEN = base64.urlsafe_b64encode(b'{"k":["2030-01-01T00:00:00+00:00",1]}').rstrip(b"=").decode()


@dataclass(frozen=True)
class Hints:
    """What the fuzz world knows exists, so a share of requests reaches past "not found"."""

    # Ids of things that exist, by kind: user, event, booking, payment, notification.
    ids: Mapping[str, Sequence[str]]
    emails: Sequence[str]
    page_tokens: Sequence[str]  # genuine tokens, each of some list and its filters

    def ids_for(self, field: FieldDescriptor | None) -> list[str]:
        """Known ids of the kind `field` names (AIP naming: `event_id`, `user_ids`, `Event.id`,
        `organizer_id` a user's), or every known id when its name says no kind."""
        kind = _id_kind(field) if field is not None else ""
        chosen = self.ids.get(kind) or [value for values in self.ids.values() for value in values]
        return list(chosen)


# Ids named after a role of a person, or after what they are also the id of.
_KIND_ALIASES = {
    "organizer": "user", "buyer": "user", "guest": "user", "host": "user", "author": "user",
    "recipient": "user", "initiated_by_user": "user", "reservation": "booking",
}  # fmt: skip


def _id_kind(field: FieldDescriptor) -> str:
    name = field.name
    if name == "id":
        return field.containing_type.name.lower()
    stem = name.removesuffix("_ids").removesuffix("_id")
    return _KIND_ALIASES.get(stem, stem)


def _repeat(text: str, length: int) -> str:
    return (text * (length // max(len(text), 1) + 1))[:length]


def _with_control(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, c, b: a + c + b, text, st.sampled_from(CONTROL_CHARACTERS), text)


def _malformed_uuid(value: str) -> list[str]:
    return [
        value[:-1],
        value + "0",
        value.upper(),
        value.replace("-", ""),
        "{" + value + "}",
        "urn:uuid:" + value,
        value[:8] + "-" + value[9:].replace("-", "_"),
        value.replace(value[0], "g", 1),
    ]


def plain_strings() -> st.SearchStrategy[str]:
    short = st.text(max_size=30)
    return st.one_of(
        st.just(""),
        short,
        st.builds(_repeat, st.sampled_from(["x", "é", "😀", "ab ", "A"]), st.sampled_from(LENGTHS)),
        _with_control(short),
        st.sampled_from(NASTY),
    )


def ids(hints: Hints, field: FieldDescriptor | None = None) -> st.SearchStrategy[str]:
    pool = hints.ids_for(field)
    known = st.sampled_from(pool) if pool else st.nothing()
    return st.one_of(
        known,
        known,
        st.uuids().map(str),
        st.uuids().map(str).flatmap(lambda value: st.sampled_from(_malformed_uuid(value))),
        st.sampled_from(
            [
                "00000000-0000-0000-0000-000000000000",
                "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "service:bookings",
                "me",
                "*",
            ]
        ),
        plain_strings(),
    )


def page_tokens(hints: Hints) -> st.SearchStrategy[str]:
    genuine = st.sampled_from(list(hints.page_tokens)) if hints.page_tokens else st.just(ISSUE_TOKEN)
    forged_json = st.sampled_from(
        [b'{"k":["2030-01-01T00:00:00+00:00",1]}', b"[1,2]", b"[]", b'["x"]', b"[1e999]", b"[" * 2000]
    ).map(lambda raw: base64.urlsafe_b64encode(raw).decode())
    return st.one_of(
        st.just(ISSUE_TOKEN),
        genuine,
        genuine.flatmap(lambda token: st.integers(0, max(len(token) - 1, 0)).map(lambda cut: token[:cut])),
        genuine.map(lambda token: token[:-2] + ("A" if token[-2:-1] != "A" else "B") + token[-1:]),
        genuine.map(lambda token: token + "AAAA"),
        forged_json,
        st.binary(max_size=64).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        st.builds(_repeat, st.just("A"), st.sampled_from([511, 512, 513, 10_000])),
        st.sampled_from(["%%%", "====", "a", "-_-_", "\x00", "AAAAAAAAAAAAAAAAAAAAAA=="]),
        plain_strings(),
    )


def emails(hints: Hints) -> st.SearchStrategy[str]:
    known = st.sampled_from(list(hints.emails)) if hints.emails else st.nothing()
    return st.one_of(
        known,
        known.map(str.upper),
        st.emails().map(str),
        st.sampled_from(["a@b", "@example.com", "x@", "a@@b.com", "a b@example.com", "Ab@Example.COM"]),
        st.sampled_from([245, 246, 300]).map(lambda n: "x" * n + "@example.com"),
        plain_strings(),
    )


def _named(options: Sequence[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(list(options)), plain_strings())


# Field names whose values have a shape of their own (anything else is text): plausible values
# (the first strategy) and hostile ones (the second).
_SHORT_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=1, max_size=30)
_ZONES = ["Europe/Berlin", "UTC", "America/New_York", "Asia/Tokyo"]
_BY_NAME: dict[
    str, tuple[Callable[[Hints], st.SearchStrategy[str]], Callable[[Hints], st.SearchStrategy[str]]]
] = {
    "page_token": (
        lambda hints: st.sampled_from(["", *hints.page_tokens]),
        page_tokens,
    ),
    "request_id": (lambda hints: st.uuids().map(str), lambda hints: plain_strings()),
    "etag": (lambda hints: st.just(""), lambda hints: plain_strings()),
    "password": (
        lambda hints: st.text(alphabet=string.ascii_letters + string.digits + " ", min_size=12, max_size=40),
        lambda hints: plain_strings(),
    ),
    "email": (lambda hints: sane_emails(hints), emails),
    "email_prefix": (lambda hints: sane_emails(hints), emails),
    "time_zone": (
        lambda hints: st.sampled_from(_ZONES),
        lambda hints: _named(
            [
                "Pacific/Kiritimati",
                "Etc/GMT-14",
                "Etc/GMT+12",
                "America/St_Johns",
                "Mars/Olympus",
                "../../../../etc/localtime",
                "europe/berlin",
                "Europe/Berlin ",
            ]
        ),
    ),
    "event_time_zone": (
        lambda hints: st.sampled_from(_ZONES),
        lambda hints: _named(["Pacific/Kiritimati", "Etc/GMT-14", "Nowhere/Else"]),
    ),
    "currency_code": (
        lambda hints: st.sampled_from(["EUR", "JPY", "USD"]),
        lambda hints: _named(["BHD", "CLF", "XXX", "eur", "EURO", "€", "E"]),
    ),
    "order_by": (
        lambda hints: st.sampled_from(
            ["", "start_time", "start_time desc", "rating desc", "create_time desc"]
        ),
        lambda hints: _named(
            ["title", "start_time asc", "rating desc, start_time", "start_time; DROP TABLE events"]
        ),
    ),
    "phone": (
        lambda hints: st.integers(10**6, 10**7 - 1).map(lambda n: f"+49170{n}"),
        lambda hints: _named(["+1", "+" + "9" * 20, "0170123", "+49 170 1234567"]),
    ),
    "code": (
        lambda hints: st.integers(0, 999_999).map(lambda n: f"{n:06d}"),
        lambda hints: _named(["12345", "1234567", "abcdef", "１２３４５６"]),
    ),
    "service_name": (
        lambda hints: st.sampled_from(["events", "bookings", "notifications", "payments"]),
        lambda hints: _named(["users", "admin", "service:bookings"]),
    ),
    "locale": (
        lambda hints: st.sampled_from(["en", "de-DE", "ru"]),
        lambda hints: _named(["x-klingon", "en_US.UTF-8"]),
    ),
    "type_url": (
        lambda hints: st.sampled_from(["type.googleapis.com/google.rpc.ErrorInfo"]),
        lambda hints: _named(["type.googleapis.com/seatmesh.events.v1.Event", "x/y", "type.googleapis.com/"]),
    ),
    "content_type": (
        lambda hints: st.sampled_from(["application/json"]),
        lambda hints: _named(["text/plain", "application/x-protobuf", "application/json; charset=latin-1"]),
    ),
}


def sane_emails(hints: Hints) -> st.SearchStrategy[str]:
    made = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=12).map(
        lambda name: f"{name}@example.com"
    )
    return st.one_of(st.sampled_from(list(hints.emails)), made) if hints.emails else made


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_ids"))


def _string(field: FieldDescriptor, hints: Hints, sane: bool) -> st.SearchStrategy[str]:
    if _is_id(field.name):
        pool = hints.ids_for(field)
        if sane:
            # Mostly something that exists: that is what gets past "not found".
            return (
                st.one_of(st.sampled_from(pool), st.sampled_from(pool), st.uuids().map(str))
                if pool
                else st.uuids().map(str)
            )
        return ids(hints, field)
    special = _BY_NAME.get(field.name)
    if special is not None:
        return special[0 if sane else 1](hints)
    return _SHORT_TEXT if sane else plain_strings()


def _edges_first(edges: Sequence[Any], *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the edges (the worst first: what a short run tries first), sometimes anything."""
    chosen = st.sampled_from(list(edges))
    return st.one_of(chosen, chosen, chosen, *others)


def _integer(bounds: tuple[int, int], caps: Sequence[int]) -> st.SearchStrategy[int]:
    low, high = bounds
    edges = [value for value in (high, low, high - 1, low + 1, -1, 0, 1, *caps) if low <= value <= high]
    return _edges_first(edges, st.integers(low, high), st.integers(-3, 30))


_INT_CAPS = (5, 6, 10, 11, 100, 101, 200, 201, 1000, 1001, 8760, 8761, 100_000, 100_001)
_INT64_CAPS = (*_INT_CAPS, 10**6, 10**6 + 1, 10**9, 10**12, 2**53 + 1)


def _timestamp_seconds() -> st.SearchStrategy[int]:
    now = int(time.time())
    edges = [
        MAX_SECONDS, MIN_SECONDS, MAX_SECONDS + 1, MIN_SECONDS - 1, *INT64, 0, -1,
        now, now + 3600, now + 86_400, now - 86_400, now + 5 * YEAR - 86_400, now + 5 * YEAR + 86_400,
    ]  # fmt: skip
    return _edges_first(edges, st.integers(MIN_SECONDS - 10, MAX_SECONDS + 10), st.integers(*INT64))


def _nanos() -> st.SearchStrategy[int]:
    edges = [1_000_000_000, -1, *INT32, 999_999_999, -999_999_999, 0, 1]
    return _edges_first(edges, st.integers(0, 999_999_999))


def _duration_seconds() -> st.SearchStrategy[int]:
    edges = [MAX_DURATION_SECONDS + 1, -MAX_DURATION_SECONDS - 1, *INT64, MAX_DURATION_SECONDS, -1, 0, 1,
             119, 120, 3600, 86_400, 86_401]  # fmt: skip
    return _edges_first(edges, st.integers(*INT64))


class Mode(enum.Enum):
    """How hostile the values of a generated message are."""

    SANE = "plausible"
    WILD = "anything, or absent"


class RequestStrategies:
    """Strategies for request messages of the contract, with the fuzz world's `hints`.

    `requests` gives whole messages, plausible or wild. A wholly random request almost always fails
    the first check it meets (a control character somewhere among a dozen fields), and two bad
    fields hide each other; so `hostile_at` gives messages that are plausible but for one field,
    at any depth, and `field_paths` lists every place that field can be (`event.price.units`,
    `booking.seats`; for bytes, each member of the JSON document they carry), so each one's
    handling is reached in every run, all the way down.
    """

    def __init__(self, hints: Hints, *, max_depth: int = 4) -> None:
        self.hints = hints
        self.max_depth = max_depth

    def requests(self, descriptor: Descriptor) -> st.SearchStrategy[Message]:
        return st.one_of(self.message(descriptor, Mode.SANE), self.message(descriptor, Mode.WILD))

    def message(self, descriptor: Descriptor, mode: Mode, depth: int = 0) -> st.SearchStrategy[Message]:
        cls = message_factory.GetMessageClass(descriptor)
        special = self._well_known(descriptor, mode)
        if special is not None:
            return special
        if depth >= self.max_depth:
            return st.just(cls())
        siblings = _mask_targets(descriptor)
        # A plausible message leaves out what the server fills in (google.api.field_behavior).
        fields = {
            field.name: self._values(field, mode, depth, siblings)
            for field in descriptor.fields
            if mode is Mode.WILD or not _output_only(field)
        }
        values = (
            st.fixed_dictionaries({}, optional=fields) if mode is Mode.WILD else st.fixed_dictionaries(fields)
        )
        return values.map(lambda chosen: _build(cls, chosen))

    def field_paths(self, descriptor: Descriptor, depth: int = 0) -> list[tuple[str, ...]]:
        """Every field path of the message down to max_depth; for a bytes field, also each member
        of the Stripe event it carries (`payload.data.created`)."""
        paths: list[tuple[str, ...]] = []
        for field in descriptor.fields:
            paths.append((field.name,))
            nested = field.message_type
            if nested is not None and nested.full_name not in _SCALAR_LIKE and depth + 1 < self.max_depth:
                paths.extend((field.name, *inner) for inner in self.field_paths(nested, depth + 1))
            if _carries_webhooks(field):
                paths.extend((field.name, member) for member in _STRIPE_MEMBERS)
        return paths

    def hostile_at(
        self, descriptor: Descriptor, path: tuple[str, ...], depth: int = 0
    ) -> st.SearchStrategy[Message]:
        """A plausible message but for the field at `path`, which is hostile."""
        cls = message_factory.GetMessageClass(descriptor)
        siblings = _mask_targets(descriptor)
        fields: dict[str, st.SearchStrategy[object]] = {}
        for field in descriptor.fields:
            if field.name != path[0]:
                if not _output_only(field):
                    fields[field.name] = self._values(field, Mode.SANE, depth, siblings)
            elif len(path) == 1:
                fields[field.name] = self._values(field, Mode.WILD, depth, siblings)
            elif field.type == FieldDescriptor.TYPE_BYTES:
                fields[field.name] = self._stripe_event(path[1])
            else:
                nested = self.hostile_at(field.message_type, path[1:], depth + 1)
                fields[field.name] = st.lists(nested, min_size=1, max_size=2) if field.is_repeated else nested
        return st.fixed_dictionaries(fields).map(lambda chosen: _build(cls, chosen))

    def _values(
        self, field: FieldDescriptor, mode: Mode, depth: int, siblings: list[str]
    ) -> st.SearchStrategy[object]:
        if field.message_type is not None and field.message_type.full_name == "google.protobuf.FieldMask":
            item = self._mask(siblings, mode)
        else:
            item = self._single(field, mode, depth)
        if not field.is_repeated:
            return item
        if mode is not Mode.WILD:
            return st.lists(item, max_size=2)
        return st.one_of(
            st.lists(item, max_size=4),
            st.builds(lambda one, count: [one] * count, item, st.sampled_from(COUNTS)),
        )

    def _single(self, field: FieldDescriptor, mode: Mode, depth: int) -> st.SearchStrategy[object]:
        sane = mode is Mode.SANE
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return _string(field, self.hints, sane)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self._bytes(mode) if _carries_webhooks(field) else st.binary(max_size=256)
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            numbers = [value.number for value in field.enum_type.values]
            if sane:
                return st.sampled_from([number for number in numbers if number] or numbers)
            return st.one_of(st.sampled_from(numbers), _integer(INT32, [max(numbers) + 1]))
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            if sane:
                return st.floats(0, 5)
            edges = [0.0, -0.0, 5.0, 5.000001, -1.0, 1e308, float("inf"), float("-inf"), float("nan")]
            width = 64 if kind == FieldDescriptor.TYPE_DOUBLE else 32
            return st.one_of(st.sampled_from(edges), st.floats(width=width))
        if kind in _INTEGER_BOUNDS:
            bounds, caps = _INTEGER_BOUNDS[kind]
            if sane:
                # Fractions (Money's nanos) are whole minor units in every currency when zero.
                return st.just(0) if field.name == "nanos" else st.integers(1, 10)
            return _integer(bounds, caps)
        if kind == FieldDescriptor.TYPE_MESSAGE:
            if sane and field.message_type.full_name == "google.protobuf.Timestamp":
                return _plausible_time(field)
            return self.message(field.message_type, mode, depth + 1)
        raise TypeError(f"no strategy for field {field.full_name} of type {kind}")

    def _bytes(self, mode: Mode) -> st.SearchStrategy[bytes]:
        """A Stripe webhook's body: an event as JSON (its members all plausible or all hostile), or,
        when wild, any bytes at all."""
        events = self._stripe_event("*" if mode is Mode.WILD else "")
        if mode is Mode.SANE:
            return events
        return st.one_of(
            events, st.binary(max_size=256), st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe"])
        )

    def _stripe_event(self, hostile: str) -> st.SearchStrategy[bytes]:
        """A Stripe event whose member `hostile` (every one, for "*") takes hostile values."""

        def value(
            member: str, sane: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]
        ) -> st.SearchStrategy[Any]:
            return wild if hostile in (member, "*") else sane

        payments = list(self.hints.ids.get("payment", ()))
        now = int(time.time())
        session = st.fixed_dictionaries(
            {
                "id": value("session.id", _SHORT_TEXT, plain_strings()),
                "metadata": st.fixed_dictionaries(
                    {
                        "payment_id": value(
                            "payment_id",
                            st.sampled_from(payments) if payments else st.uuids().map(str),
                            ids(self.hints),
                        )
                    }
                ),
                "amount_total": value("amount_total", st.integers(1, 10_000), _json_numbers()),
                "currency": value("currency", st.sampled_from(["eur", "jpy"]), _named(["EUR", "xxx", ""])),
                "payment_status": value(
                    "payment_status", st.sampled_from(["paid", "unpaid"]), _named(["paid"])
                ),
                "payment_intent": value("payment_intent", _SHORT_TEXT, plain_strings()),
            }
        )
        return st.fixed_dictionaries(
            {
                "id": value("id", _SHORT_TEXT.map(lambda name: f"evt_{name}"), plain_strings()),
                "type": value("type", st.sampled_from(_STRIPE_EVENT_TYPES), plain_strings()),
                "data": value(
                    "data",
                    st.fixed_dictionaries({"object": session}),
                    st.sampled_from([{}, {"object": None}, [], "x"]),
                ),
                "created": value("created", st.integers(now - 60, now), _json_numbers()),
            }
        ).map(lambda event: json.dumps(event, ensure_ascii=False).encode())

    def _mask(self, siblings: list[str], mode: Mode) -> st.SearchStrategy[Message]:
        known = st.sampled_from(siblings or ["x"])
        if mode is Mode.SANE:
            paths: st.SearchStrategy[list[str]] = st.lists(known, min_size=1, max_size=2, unique=True)
        else:
            path = st.one_of(
                known,
                known.map(lambda name: name + ".units"),
                st.sampled_from(
                    ["", "*", "id", "organizer_id", "seats_taken", "etag", "role", "email_verified"]
                ),
                plain_strings(),
            )
            paths = st.one_of(
                st.lists(path, max_size=5), st.builds(lambda one, n: [one] * n, path, st.sampled_from(COUNTS))
            )
        return paths.map(lambda chosen: field_mask_pb2.FieldMask(paths=chosen))

    def _well_known(self, descriptor: Descriptor, mode: Mode) -> st.SearchStrategy[Message] | None:
        cls = message_factory.GetMessageClass(descriptor)
        name = descriptor.full_name
        sane = mode is Mode.SANE
        if name == "google.protobuf.Timestamp" and not sane:
            return st.builds(lambda s, n: cls(seconds=s, nanos=n), _timestamp_seconds(), _nanos())
        if name == "google.protobuf.Duration":
            seconds = st.integers(120, 86_400) if sane else _duration_seconds()
            return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, st.just(0) if sane else _nanos())
        return None


# Messages generated whole, like a scalar (their own strategies in _well_known and _mask).
_SCALAR_LIKE = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}

_INTEGER_BOUNDS: dict[int, tuple[tuple[int, int], Sequence[int]]] = {
    FieldDescriptor.TYPE_INT32: (INT32, _INT_CAPS),
    FieldDescriptor.TYPE_SINT32: (INT32, _INT_CAPS),
    FieldDescriptor.TYPE_SFIXED32: (INT32, _INT_CAPS),
    FieldDescriptor.TYPE_INT64: (INT64, _INT64_CAPS),
    FieldDescriptor.TYPE_SINT64: (INT64, _INT64_CAPS),
    FieldDescriptor.TYPE_SFIXED64: (INT64, _INT64_CAPS),
    FieldDescriptor.TYPE_UINT32: ((0, 2**32 - 1), _INT_CAPS),
    FieldDescriptor.TYPE_FIXED32: ((0, 2**32 - 1), _INT_CAPS),
    FieldDescriptor.TYPE_UINT64: ((0, 2**64 - 1), _INT64_CAPS),
    FieldDescriptor.TYPE_FIXED64: ((0, 2**64 - 1), _INT64_CAPS),
}


def _carries_webhooks(field: FieldDescriptor) -> bool:
    """HttpBody.data: the only HttpBody a client sends is Stripe's webhook."""
    return field.containing_type.full_name == "google.api.HttpBody" and field.name == "data"


def _mask_targets(descriptor: Descriptor) -> list[str]:
    """What a FieldMask of this message may name: the fields a client sets of the message beside
    it (UpdateEventRequest.event)."""
    return [
        inner.name
        for field in descriptor.fields
        if field.message_type is not None and field.message_type.full_name != "google.protobuf.FieldMask"
        for inner in field.message_type.fields
        if not _output_only(inner)
    ]


_STRIPE_EVENT_TYPES = [
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_failed",
    "checkout.session.async_payment_succeeded",
    "charge.refunded",
]
_STRIPE_MEMBERS = [
    "id", "type", "data", "created", "session.id", "payment_id", "amount_total", "currency",
    "payment_status", "payment_intent",
]  # fmt: skip


def _json_numbers() -> st.SearchStrategy[Any]:
    """Numbers a JSON document may carry where an integer is expected: huge, negative, fractional,
    infinite (1e400 parses as inf), or not a number at all."""
    extremes = [10**30, -(10**30), float("inf"), float("-inf"), *INT64, 1.5, "12", None, True, -1]
    return _edges_first(extremes, _integer(INT64, _INT64_CAPS))


def _plausible_time(field: FieldDescriptor) -> st.SearchStrategy[Message]:
    """Ten days from now, later for each later field of the message: a start before its end, an
    `after` before its `before`, whatever the fields are called."""
    cls = message_factory.GetMessageClass(field.message_type)
    start = int(time.time()) + 10 * 86_400 + field.number * 3600
    return st.integers(0, 3599).map(lambda jitter: cls(seconds=start + jitter))


def _output_only(field: FieldDescriptor) -> bool:
    """Set by the server, not the client; an `id` names the resource an update is for all the same."""
    if field.name == "id":
        return False
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.OUTPUT_ONLY in behaviors


def _build(cls: type[Message], values: dict[str, object]) -> Message:
    made = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        if field.is_repeated:
            getattr(made, name).extend(value)  # type: ignore[arg-type]
        elif field.message_type is not None:
            getattr(made, name).CopyFrom(value)
        else:
            setattr(made, name, value)
    return made


def strings_of(message: Message) -> list[str]:
    """Every string a request carries (at any depth), longest first: what an answer may echo."""
    found: list[str] = []
    for field, value in message.ListFields():
        items = value if field.is_repeated else [value]
        for item in items:
            if field.type == FieldDescriptor.TYPE_STRING:
                found.append(item)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                found.extend(strings_of(item))
    return sorted({item for item in found if item}, key=len, reverse=True)
