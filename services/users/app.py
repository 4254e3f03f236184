"""Wiring of the users service: what runs in one process."""

from functools import partial
from typing import Any

from seatmesh.users.v1 import users_pb2_grpc
from services.runtime.app import Runtime
from services.runtime.server import Service
from services.users import models
from services.users.servicer import ACCESS, SERVICE, UserServiceServicer
from services.users.settings import UsersSettings


async def build(settings: UsersSettings, **overrides: Any) -> Service:
    runtime = Runtime.create(settings, "users", **overrides)
    servicer = UserServiceServicer()
    return runtime.service(
        descriptor=SERVICE,
        register=partial(users_pb2_grpc.add_UserServiceServicer_to_server, servicer),
        access=ACCESS,
        background=[runtime.relay(models.outbox).run],
    )
