"""The protobuf contract the edge loads, with the comments that document it.

gen/seatmesh.pb is built without source info (Envoy needs none), so comments come from a second
build of the same protos that keeps it. The two must be the same contract apart from the comments:
`load` refuses a pair that differs, so the spec can never describe protos Envoy does not serve.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Imported for their side effect: the `google.api.http` and `field_behavior` options parse as
# extensions only once their modules are loaded.
from google.api import annotations_pb2, field_behavior_pb2
from google.api.http_pb2 import HttpRule
from google.protobuf import descriptor_pb2

Message = descriptor_pb2.DescriptorProto
Field = descriptor_pb2.FieldDescriptorProto
Enum = descriptor_pb2.EnumDescriptorProto
Service = descriptor_pb2.ServiceDescriptorProto
Method = descriptor_pb2.MethodDescriptorProto

# Field numbers inside descriptor.proto, the steps of a SourceCodeInfo.Location path.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2

# Lines meant for tools, not readers.
_TOOL_LINE = re.compile(r"^\s*buf:lint:")


class ContractMismatch(Exception):
    """The annotated build and the descriptor set Envoy loads are not the same contract."""


@dataclass(frozen=True)
class Contract:
    """Every message, enum and service by full name (no leading dot), and comments by full name
    (a field is `<message>.<field>`, an enum value `<enum>.<VALUE>`, a method `<service>.<Method>`).
    `local_names` gives a type's name inside its package (`Event.State`)."""

    messages: dict[str, Message]
    enums: dict[str, Enum]
    services: dict[str, Service]
    comments: dict[str, str]
    local_names: dict[str, str]

    def comment(self, full_name: str) -> str:
        return self.comments.get(full_name, "")

    def message(self, type_name: str) -> Message:
        return self.messages[type_name.lstrip(".")]


def http_rule(method: Method) -> HttpRule | None:
    if not method.options.HasExtension(annotations_pb2.http):
        return None
    rule: HttpRule = method.options.Extensions[annotations_pb2.http]
    return rule


def field_behaviors(field: Field) -> set[int]:
    return set(field.options.Extensions[field_behavior_pb2.field_behavior])


REQUIRED = field_behavior_pb2.REQUIRED
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
INPUT_ONLY = field_behavior_pb2.INPUT_ONLY


def load(descriptor: Path, source_info: Path) -> Contract:
    served = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    annotated = descriptor_pb2.FileDescriptorSet.FromString(source_info.read_bytes())
    _check_same_contract(served.file, annotated.file)
    messages: dict[str, Message] = {}
    enums: dict[str, Enum] = {}
    services: dict[str, Service] = {}
    comments: dict[str, str] = {}
    local_names: dict[str, str] = {}
    for file in annotated.file:
        located = {
            tuple(location.path): _clean(location.leading_comments or location.trailing_comments)
            for location in file.source_code_info.location
        }
        for full_name, path, kind, item in _walk(file):
            if kind in ("message", "enum"):
                local_names[full_name] = full_name.removeprefix(f"{file.package}.")
            if kind == "message":
                assert isinstance(item, Message)
                messages[full_name] = item
            elif kind == "enum":
                assert isinstance(item, Enum)
                enums[full_name] = item
            elif kind == "service":
                assert isinstance(item, Service)
                services[full_name] = item
            text = located.get(path, "")
            if text:
                comments[full_name] = text
    return Contract(messages, enums, services, comments, local_names)


def _check_same_contract(
    served: Sequence[descriptor_pb2.FileDescriptorProto],
    annotated: Sequence[descriptor_pb2.FileDescriptorProto],
) -> None:
    stripped = {}
    for file in annotated:
        copy = descriptor_pb2.FileDescriptorProto()
        copy.CopyFrom(file)
        copy.ClearField("source_code_info")
        stripped[copy.name] = copy
    by_name = {file.name: file for file in served}
    if by_name.keys() != stripped.keys():
        raise ContractMismatch(f"different files: {sorted(by_name.keys() ^ stripped.keys())}")
    changed = sorted(name for name, file in by_name.items() if file != stripped[name])
    if changed:
        raise ContractMismatch(f"different definitions in {changed}")


def _clean(comment: str) -> str:
    """The comment as Markdown: tool lines dropped, the wrapped lines of each paragraph joined."""
    paragraphs: list[list[str]] = [[]]
    for raw in comment.splitlines():
        line = raw.strip()
        if _TOOL_LINE.match(line):
            continue
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join(" ".join(lines) for lines in paragraphs if lines)


def _walk(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, tuple[int, ...], str, object]]:
    """(full name, source path, kind, descriptor) of everything in a file that can carry a comment."""
    prefix = f"{file.package}." if file.package else ""
    for index, message in enumerate(file.message_type):
        yield from _walk_message(message, prefix + message.name, (_FILE_MESSAGE, index))
    for index, enum in enumerate(file.enum_type):
        yield from _walk_enum(enum, prefix + enum.name, (_FILE_ENUM, index))
    for index, service in enumerate(file.service):
        name = prefix + service.name
        yield name, (_FILE_SERVICE, index), "service", service
        for method_index, method in enumerate(service.method):
            path = (_FILE_SERVICE, index, _SERVICE_METHOD, method_index)
            yield f"{name}.{method.name}", path, "method", method


def _walk_message(
    message: Message, name: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...], str, object]]:
    yield name, path, "message", message
    for index, field in enumerate(message.field):
        yield f"{name}.{field.name}", (*path, _MESSAGE_FIELD, index), "field", field
    for index, nested in enumerate(message.nested_type):
        yield from _walk_message(nested, f"{name}.{nested.name}", (*path, _MESSAGE_NESTED, index))
    for index, enum in enumerate(message.enum_type):
        yield from _walk_enum(enum, f"{name}.{enum.name}", (*path, _MESSAGE_ENUM, index))


def _walk_enum(
    enum: Enum, name: str, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...], str, object]]:
    yield name, path, "enum", enum
    for index, value in enumerate(enum.value):
        yield f"{name}.{value.name}", (*path, _ENUM_VALUE, index), "value", value
