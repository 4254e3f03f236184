"""Checks every request gets before its handler sees it, whatever the RPC.

Text: no string field of any request may carry control characters. PostgreSQL refuses NUL outright
(the client used to get INTERNAL), and the other C0/C1 controls have no business in names, ids,
emails or free text either: they hide text in logs and terminals, break CSV exports and emails.
Tab, line feed and carriage return stay allowed, because descriptions, comments and message bodies
are multi-line. The walk follows the message's descriptor, so every field of every RPC — nested
messages, repeated fields and maps included — is covered without any handler doing anything, and
each violation names the field the way clients address it (`booking.event_id`, `tags[2]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from google.protobuf import message as protobuf_message
from google.protobuf.descriptor import FieldDescriptor

from services.runtime.errors import FieldViolation

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS = "must not contain control characters"

# Well-known types whose strings are not free text a person typed (an Any's type URL).
_OPAQUE = frozenset({"google.protobuf.Any"})


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def text_violations(message: protobuf_message.Message, prefix: str = "") -> Iterator[FieldViolation]:
    """Every string field (at any depth) of `message` that holds a control character."""
    if message.DESCRIPTOR.full_name in _OPAQUE:
        return
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                for index, item in enumerate(value):
                    if has_control_characters(item):
                        yield FieldViolation(f"{path}[{index}]", CONTROL_CHARACTERS)
            elif has_control_characters(value):
                yield FieldViolation(path, CONTROL_CHARACTERS)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                yield from _map_violations(path, field, value)
            elif field.is_repeated:
                for index, item in enumerate(value):
                    yield from text_violations(item, f"{path}[{index}].")
            else:
                yield from text_violations(value, path + ".")


def _map_violations(path: str, field: FieldDescriptor, entries: Any) -> Iterator[FieldViolation]:
    entry = field.message_type
    assert entry is not None
    keys_are_text = entry.fields_by_name["key"].type == FieldDescriptor.TYPE_STRING
    value_kind = entry.fields_by_name["value"].type
    for key, value in entries.items():
        if keys_are_text and has_control_characters(key):
            yield FieldViolation(path, "keys " + CONTROL_CHARACTERS)
            continue
        entry_path = f"{path}[{key!r}]"
        if value_kind == FieldDescriptor.TYPE_STRING and has_control_characters(value):
            yield FieldViolation(entry_path, CONTROL_CHARACTERS)
        elif value_kind == FieldDescriptor.TYPE_MESSAGE:
            yield from text_violations(value, entry_path + ".")
