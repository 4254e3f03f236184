"""The mesh's public contract as data: every service and RPC, read from the generated descriptors.

Both security tests walk this instead of naming RPCs by hand, so an RPC added to a .proto is fuzzed
at once and fails the authorization matrix until the table says who may call it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from scripts.envoy_config import SERVICES


@dataclass(frozen=True)
class Rpc:
    service: str  # the mesh's name for it: users, events, ...
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return str(self.method.name)

    @property
    def path(self) -> str:
        """The gRPC path, /package.Service/Method."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def input(self) -> Descriptor:
        return self.method.input_type

    def response_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.method.output_type)

    @cached_property
    def http(self) -> http_pb2.HttpRule | None:
        """Its REST route (google.api.http), or None for a gRPC-only RPC."""
        rule = self.method.GetOptions().Extensions[annotations_pb2.http]
        return rule if rule.WhichOneof("pattern") else None

    def __str__(self) -> str:
        return f"{self.method.containing_service.name}.{self.name}"


def _service_descriptor(name: str, full_name: str) -> ServiceDescriptor:
    package, _, service = full_name.rpartition(".")
    module = importlib.import_module(f"{package}.{name}_pb2")
    return module.DESCRIPTOR.services_by_name[service]


def rpcs(service: str) -> list[Rpc]:
    """Every RPC of one service (users, events, bookings, notifications, payments), in contract order."""
    descriptor = _service_descriptor(service, SERVICES[service])
    return [Rpc(service, method) for method in descriptor.methods]


def every_rpc() -> list[Rpc]:
    return [rpc for service in SERVICES for rpc in rpcs(service)]
