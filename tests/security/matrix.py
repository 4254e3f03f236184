"""The authorization matrix (authorization.md) as data, and what each of its cells means.

Markdown rather than Python rows: a reviewer reads one table per service top to bottom, one line
per RPC and resource with a column per caller, exactly as GitHub renders it, and the test parses
that same file, so the table cannot drift from what runs. The cell grammar is defined in the file's
preamble; `parse_outcome` and `Expected.problem` below are its only readers.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tests.security.transport import Outcome

TABLE = Path(__file__).with_name("authorization.md")
CALLERS = ("anonymous", "participant", "participant 2", "organizer", "organizer 2", "admin", "service")
NOT_APPLICABLE = "n/a"
SAME_AT_EDGE = "="

_SECTION = re.compile(r"^## (\w+) — ([\w.]+)$")
_CODES = {code.name: code for code in grpc.StatusCode}


class Shown(enum.Enum):
    FULL = ""
    REDACTED = "redacted"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Resource:
    """What a row's request names. Its `id` must (or must not) appear in a reply, unless it is
    empty (replies that name nothing, like a token pair); `private`, when set, is the part only
    some callers may see; `data` is whatever else the request needs (a code, a token)."""

    id: str
    private: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    code: grpc.StatusCode
    reason: str = ""
    shown: Shown = Shown.FULL

    def __str__(self) -> str:
        if self.code == grpc.StatusCode.OK:
            return f"OK {self.shown.value}".strip()
        return f"{self.code.name} {self.reason}".strip()

    def problem(self, outcome: Outcome, resource: Resource | None) -> str | None:
        """Why `outcome` is not this expectation; None when it is."""
        if outcome.code != self.code:
            return f"expected {self}, got {outcome.describe()}"
        if self.code != grpc.StatusCode.OK:
            allowed = {self.reason} if self.reason else {"", self.code.name}
            if outcome.reason not in allowed:
                return f"expected {self}, got reason {outcome.reason or '(none)'}: {outcome.message!r}"
            return None
        if resource is None or not resource.id or outcome.stream_open:
            return None
        reply = outcome.reply
        if self.shown is Shown.HIDDEN:
            return (
                f"expected the reply not to show {resource.id}: {reply[:400]!r}"
                if resource.id in reply
                else None
            )
        if resource.id not in reply:
            return f"expected the reply to show {resource.id}: {reply[:400]!r}"
        if resource.private:
            visible = resource.private in reply
            if self.shown is Shown.FULL and not visible:
                return f"expected the reply to show {resource.private!r}: {reply[:400]!r}"
            if self.shown is Shown.REDACTED and visible:
                return f"expected the reply to leave out {resource.private!r}: {reply[:400]!r}"
        return None


def parse_outcome(text: str) -> Expected:
    words = text.split()
    if not words or words[0] not in _CODES:
        raise ValueError(f"not an outcome: {text!r}")
    code = _CODES[words[0]]
    if code == grpc.StatusCode.OK:
        if len(words) > 2:
            raise ValueError(f"not an outcome: {text!r}")
        return Expected(code, shown=Shown(words[1] if len(words) == 2 else ""))
    if len(words) > 2:
        raise ValueError(f"not an outcome: {text!r}")
    return Expected(code, reason=words[1] if len(words) == 2 else "")


@dataclass(frozen=True)
class Row:
    service: str  # users, events, ...
    service_name: str  # seatmesh.users.v1.UserService
    rpc: str
    resource: str
    cells: dict[str, Expected | None]  # None: n/a
    edge: Expected | None  # None: as direct
    line: int

    def __str__(self) -> str:
        return f"{self.rpc} [{self.resource}] (authorization.md:{self.line})"


def load(path: Path = TABLE) -> list[Row]:
    rows: list[Row] = []
    section: tuple[str, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = _SECTION.match(line)
        if heading:
            section = (heading[1], heading[2])
            continue
        if not line.startswith("| ") or line.startswith(("| RPC ", "|---")):
            continue
        if section is None:
            raise ValueError(f"authorization.md:{number}: a row outside a service's section")
        columns = [column.strip() for column in line.strip().strip("|").split("|")]
        if len(columns) != 3 + len(CALLERS):
            raise ValueError(
                f"authorization.md:{number}: {len(columns)} columns, expected {3 + len(CALLERS)}"
            )
        rpc, resource, *outcomes, edge = columns
        try:
            cells = {
                caller: None if text == NOT_APPLICABLE else parse_outcome(text)
                for caller, text in zip(CALLERS, outcomes, strict=True)
            }
            at_edge = None if edge == SAME_AT_EDGE else parse_outcome(edge)
        except ValueError as error:
            raise ValueError(f"authorization.md:{number}: {error}") from None
        rows.append(Row(section[0], section[1], rpc, resource, cells, at_edge, number))
    return rows


# Refusals of who the caller is (no token, the wrong role, not a person, not a service), as opposed
# to refusals about a resource (not yours, not found).
_CALLER_REFUSALS = {"ROLE_REQUIRED", "INTERNAL_RPC", "USER_REQUIRED"}


def _lets_in(cell: Expected | None) -> bool:
    if cell is None or cell.code == grpc.StatusCode.UNAUTHENTICATED:
        return False
    return not (cell.code == grpc.StatusCode.PERMISSION_DENIED and cell.reason in _CALLER_REFUSALS)


def callers_allowed(rows: list[Row], service: str, rpc: str) -> list[str]:
    """The callers the table lets call `rpc` (on some resource): whom the fuzz calls it as."""
    mine = [row for row in rows if row.service == service and row.rpc == rpc]
    return [caller for caller in CALLERS if any(_lets_in(row.cells[caller]) for row in mine)]
