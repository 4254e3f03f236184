"""Protobuf messages as JSON Schema, the way Envoy's transcoder prints and parses them.

The transcoder speaks proto3 JSON with `always_print_primitive_fields`: names in lowerCamelCase (or
a field's json_name), 64-bit integers as strings, enums by value name, Timestamp as RFC 3339,
Duration as `"1.5s"`, FieldMask as comma-separated paths, wrappers as their bare value. In replies
every field without presence (scalars, enums, repeated and map fields) is always there; message
fields, proto3 `optional` fields and oneof members only when set.

So one message can have up to three shapes, each a component when it is used:
- output (what replies carry): every field, the always-printed ones `required`;
- input, for creating (request bodies and query strings): OUTPUT_ONLY fields left out, REQUIRED
  ones `required`;
- input, for updating (the body of a PATCH with an update mask): the same without `required`.
A message used in one shape only is named by its local name (`Event.State` -> `EventState`); one used
in several gets `Input` / `Update` suffixes on the input shapes.

Field constraints come from the comments, in fixed phrases the services' rules are described with:
`1–200 characters.` / `At most 2,000 characters.` (string length), `1–5.` (integer range),
`At most 10 tags.` (list length, any plural noun) and `A UUID.` (format).
"""

from __future__ import annotations

import enum
import itertools
import re
from typing import Any

from scripts.openapi.contract import OUTPUT_ONLY, REQUIRED, Contract, Field, field_behaviors

Schema = dict[str, Any]

_T = Field.Type
_INT32_RANGE = {"minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32_RANGE = {"minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"}
SCALARS: dict[int, Schema] = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT64: _INT64,
    _T.TYPE_SINT64: _INT64,
    _T.TYPE_SFIXED64: _INT64,
    _T.TYPE_UINT64: _UINT64,
    _T.TYPE_FIXED64: _UINT64,
    _T.TYPE_INT32: {"type": "integer", "format": "int32", **_INT32_RANGE},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32", **_INT32_RANGE},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32", **_INT32_RANGE},
    _T.TYPE_UINT32: {"type": "integer", "format": "uint32", **_UINT32_RANGE},
    _T.TYPE_FIXED32: {"type": "integer", "format": "uint32", **_UINT32_RANGE},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}

# Well-known types with a JSON form of their own (the protobuf JSON mapping).
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string", "pattern": r"^([a-zA-Z0-9_.]+(,[a-zA-Z0-9_.]+)*)?$"},
    "google.protobuf.Empty": {"type": "object", "properties": {}, "additionalProperties": False},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
    },
    "google.protobuf.DoubleValue": SCALARS[_T.TYPE_DOUBLE],
    "google.protobuf.FloatValue": SCALARS[_T.TYPE_FLOAT],
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": SCALARS[_T.TYPE_INT32],
    "google.protobuf.UInt32Value": SCALARS[_T.TYPE_UINT32],
    "google.protobuf.BoolValue": SCALARS[_T.TYPE_BOOL],
    "google.protobuf.StringValue": SCALARS[_T.TYPE_STRING],
    "google.protobuf.BytesValue": SCALARS[_T.TYPE_BYTES],
}

# Map keys are JSON object keys, so always strings; these say which strings a non-string key type allows.
_MAP_KEY_PATTERNS = {
    _T.TYPE_INT32: r"^-?[0-9]+$",
    _T.TYPE_SINT32: r"^-?[0-9]+$",
    _T.TYPE_SFIXED32: r"^-?[0-9]+$",
    _T.TYPE_INT64: r"^-?[0-9]+$",
    _T.TYPE_SINT64: r"^-?[0-9]+$",
    _T.TYPE_SFIXED64: r"^-?[0-9]+$",
    _T.TYPE_UINT32: r"^[0-9]+$",
    _T.TYPE_FIXED32: r"^[0-9]+$",
    _T.TYPE_UINT64: r"^[0-9]+$",
    _T.TYPE_FIXED64: r"^[0-9]+$",
    _T.TYPE_BOOL: r"^(true|false)$",
}

_NUMBER = r"(\d[\d,]*)"
_LENGTH_RANGE = re.compile(rf"\b{_NUMBER}–{_NUMBER} characters\b")
_MAX_LENGTH = re.compile(rf"\b[Aa]t most {_NUMBER} characters\b")
_VALUE_RANGE = re.compile(rf"(?:^|[.;]\s+){_NUMBER}–{_NUMBER}\.")
_MAX_ITEMS = re.compile(rf"\b[Aa]t most {_NUMBER} (?!characters\b)[a-z]+s\b")
_UUID = re.compile(r"\bA UUID\.")

SCHEMA_PREFIX = "#/components/schemas/"
_PENDING = "proto:"


class Mode(enum.Enum):
    OUTPUT = "output"
    CREATE = "create"
    UPDATE = "update"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def string_constraints(comment: str) -> Schema:
    found: Schema = {}
    if match := _LENGTH_RANGE.search(comment):
        found.update(minLength=_number(match[1]), maxLength=_number(match[2]))
    elif match := _MAX_LENGTH.search(comment):
        found["maxLength"] = _number(match[1])
    if _UUID.search(comment):
        found["format"] = "uuid"
    return found


def number_constraints(comment: str) -> Schema:
    if match := _VALUE_RANGE.search(comment):
        return {"minimum": _number(match[1]), "maximum": _number(match[2])}
    return {}


def list_constraints(comment: str) -> Schema:
    if match := _MAX_ITEMS.search(comment):
        return {"maxItems": _number(match[1])}
    return {}


def has_presence(field: Field) -> bool:
    """Fields the transcoder prints only when set (the rest it always prints)."""
    return field.label != Field.LABEL_REPEATED and (
        field.type == _T.TYPE_MESSAGE or field.proto3_optional or field.HasField("oneof_index")
    )


class Schemas:
    """Builds components as they are referenced; `finish` names them and resolves references."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._pending: dict[tuple[str, Mode], Schema] = {}
        self._enums: dict[str, Schema] = {}
        self.fixed: dict[str, Schema] = {}

    # -- references -----------------------------------------------------------------------------

    def message_ref(self, type_name: str, mode: Mode) -> Schema:
        full_name = type_name.lstrip(".")
        if full_name in WELL_KNOWN:
            return dict(WELL_KNOWN[full_name])
        mode = self._effective(full_name, mode)
        key = (full_name, mode)
        if key not in self._pending:
            self._pending[key] = {}  # a placeholder first: messages may refer to themselves
            self._pending[key] = self.message_schema(full_name, mode)
        return {"$ref": f"{_PENDING}{full_name}#{mode.value}"}

    def enum_ref(self, type_name: str) -> Schema:
        full_name = type_name.lstrip(".")
        if full_name not in self._enums:
            self._enums[full_name] = self.enum_schema(full_name)
        return {"$ref": f"{_PENDING}{full_name}"}

    # -- schemas --------------------------------------------------------------------------------

    def message_schema(self, full_name: str, mode: Mode, exclude: frozenset[str] = frozenset()) -> Schema:
        message = self.contract.messages[full_name]
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in message.field:
            behaviors = field_behaviors(field)
            if field.name in exclude or (mode is not Mode.OUTPUT and OUTPUT_ONLY in behaviors):
                continue
            properties[field.json_name] = self.field_schema(full_name, field, mode)
            always_printed = mode is Mode.OUTPUT and not has_presence(field)
            if always_printed or (mode is Mode.CREATE and REQUIRED in behaviors):
                required.append(field.json_name)
        schema: Schema = {"type": "object"}
        comment = self.contract.comment(full_name)
        if comment:
            schema["description"] = comment
        schema["properties"] = properties
        if required:
            schema["required"] = required
        exclusive = self._oneof_rule(message, properties)
        if exclusive:
            schema["not"] = exclusive
        return schema

    def _oneof_rule(self, message: Any, properties: dict[str, Schema]) -> Schema | None:
        """Members of one oneof exclude each other: no two of them may be set together."""
        pairs: list[Schema] = []
        for index, oneof in enumerate(message.oneof_decl):
            members = [
                field.json_name
                for field in message.field
                if field.HasField("oneof_index")
                and field.oneof_index == index
                and not field.proto3_optional
                and field.json_name in properties
            ]
            for first, second in itertools.combinations(members, 2):
                pairs.append({"required": [first, second]})
            for member in members:
                note = f"One of `{oneof.name}`: at most one of {', '.join(f'`{m}`' for m in members)}."
                existing = properties[member].get("description", "")
                properties[member]["description"] = f"{existing}\n\n{note}".strip()
        return {"anyOf": pairs} if pairs else None

    def field_schema(self, owner: str, field: Field, mode: Mode) -> Schema:
        comment = self.contract.comment(f"{owner}.{field.name}")
        entry = self._map_entry(field)
        if entry is not None:
            key, value = entry.field[0], entry.field[1]
            schema: Schema = {"type": "object", "additionalProperties": self._single(value, mode, "")}
            if key.type in _MAP_KEY_PATTERNS:
                schema["propertyNames"] = {"pattern": _MAP_KEY_PATTERNS[key.type]}
        elif field.label == Field.LABEL_REPEATED:
            schema = {
                "type": "array",
                "items": self._single(field, mode, comment),
                **list_constraints(comment),
            }
        else:
            schema = self._single(field, mode, comment)
        if comment:
            schema["description"] = comment
        return schema

    def _single(self, field: Field, mode: Mode, comment: str) -> Schema:
        if field.type == _T.TYPE_MESSAGE:
            return self.message_ref(field.type_name, mode)
        if field.type == _T.TYPE_ENUM:
            return self.enum_ref(field.type_name)
        schema = dict(SCALARS[field.type])
        if field.type == _T.TYPE_STRING:
            schema.update(string_constraints(comment))
        elif schema["type"] in ("integer", "number"):
            schema.update(number_constraints(comment))
        return schema

    def _map_entry(self, field: Field) -> Any:
        if field.type != _T.TYPE_MESSAGE or field.label != Field.LABEL_REPEATED:
            return None
        entry = self.contract.message(field.type_name)
        return entry if entry.options.map_entry else None

    def enum_schema(self, full_name: str) -> Schema:
        values = self.contract.enums[full_name].value
        lines = []
        for value in values:
            note = self.contract.comment(f"{full_name}.{value.name}")
            lines.append(f"- `{value.name}`" + (f": {note}" if note else ""))
        description = "\n\n".join(
            part for part in (self.contract.comment(full_name), "\n".join(lines)) if part
        )
        return {"type": "string", "description": description, "enum": [value.name for value in values]}

    # -- shapes ---------------------------------------------------------------------------------

    def _effective(self, full_name: str, mode: Mode) -> Mode:
        """An update shape identical to the create shape (nothing REQUIRED in it) is the create shape."""
        if mode is Mode.UPDATE and not self._requires_anything(full_name, set()):
            return Mode.CREATE
        return mode

    def _requires_anything(self, full_name: str, seen: set[str]) -> bool:
        if full_name in seen or full_name in WELL_KNOWN:
            return False
        seen.add(full_name)
        for field in self.contract.messages[full_name].field:
            behaviors = field_behaviors(field)
            if OUTPUT_ONLY in behaviors:
                continue
            if REQUIRED in behaviors:
                return True
            if field.type == _T.TYPE_MESSAGE and self._requires_anything(field.type_name.lstrip("."), seen):
                return True
        return False

    # -- naming ---------------------------------------------------------------------------------

    def finish(self, document: Schema) -> None:
        """Names every component, adds them to `document`, and turns references into real ones."""
        names: dict[str, str] = {}
        modes: dict[str, set[Mode]] = {}
        for full_name, mode in self._pending:
            modes.setdefault(full_name, set()).add(mode)
        for full_name, mode in self._pending:
            base = self.contract.local_names[full_name].replace(".", "")
            used = modes[full_name]
            bare = Mode.OUTPUT if Mode.OUTPUT in used else Mode.CREATE
            suffix = (
                "" if len(used) == 1 or mode is bare else {Mode.CREATE: "Input", Mode.UPDATE: "Update"}[mode]
            )
            names[f"{_PENDING}{full_name}#{mode.value}"] = base + suffix
        for full_name in self._enums:
            names[f"{_PENDING}{full_name}"] = self.contract.local_names[full_name].replace(".", "")
        taken = list(names.values()) + list(self.fixed)
        clashes = sorted({name for name in taken if taken.count(name) > 1})
        if clashes:
            raise ValueError(f"two types would share the component names {clashes}; rename one")
        components: dict[str, Schema] = {}
        for (full_name, mode), schema in self._pending.items():
            components[names[f"{_PENDING}{full_name}#{mode.value}"]] = schema
        for full_name, schema in self._enums.items():
            components[names[f"{_PENDING}{full_name}"]] = schema
        components.update(self.fixed)
        document.setdefault("components", {})["schemas"] = dict(sorted(components.items()))
        _resolve(document, {pending: SCHEMA_PREFIX + name for pending, name in names.items()})


def _resolve(node: Any, targets: dict[str, str]) -> None:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith(_PENDING):
            node["$ref"] = targets[reference]
        for value in node.values():
            _resolve(value, targets)
    elif isinstance(node, list):
        for item in node:
            _resolve(item, targets)
