"""Found by the gRPC fuzz (in the services' logs, not in an answer): a client that stops reading a
server stream after its first message left the stream to be closed by asyncio's finalizer, in a task
of its own, hence another contextvars.Context; the interceptor then failed to restore the request id
and the caller it had set (Token.reset refuses a foreign Context), logged an ERROR "unexpected
error" with a traceback, tried to answer INTERNAL on a call already gone, and left asyncio a "Task
exception was never retrieved". A client hanging up is no error: the call counts as CANCELLED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, wrappers_pb2

from services.runtime.auth import Access
from services.runtime.interceptors import RpcInterceptor
from services.runtime.metrics import RPC_TOTAL

METHOD = "/seatmesh.test.v1.Counter/Count"


async def count(request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    for number in range(3):
        yield wrappers_pb2.Int32Value(value=number)


@dataclass(frozen=True)
class CallDetails:
    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class CallContext:
    """What the interceptor asks of a call's context, for a call with no metadata."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def code(self) -> grpc.StatusCode | None:
        return None

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        raise AssertionError(f"the interceptor answered {code.name}: {details}")

    async def abort_with_status(self, status: grpc.Status) -> None:
        raise AssertionError(f"the interceptor answered {status.code.name}: {status.details}")


async def wrapped_stream() -> AsyncIterator[Any]:
    interceptor = RpcInterceptor(None, {METHOD: Access.PUBLIC})

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return grpc.unary_stream_rpc_method_handler(count)

    handler = await interceptor.intercept_service(continuation, CallDetails(METHOD, ()))
    stream: AsyncIterator[Any] = handler.unary_stream(empty_pb2.Empty(), CallContext())
    return stream


async def test_a_stream_its_client_left_closes_in_another_task_as_a_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = await wrapped_stream()
    cancelled_before = RPC_TOTAL.labels(METHOD, "CANCELLED")._value.get()
    # The first message goes out from the call's own task...
    first = await asyncio.create_task(anext(stream))  # type: ignore[arg-type]
    assert first.value == 0
    # ...and the abandoned stream is closed from another, as asyncio's finalizer closes it.
    with caplog.at_level(logging.ERROR):
        await asyncio.create_task(stream.aclose())  # type: ignore[attr-defined]
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert RPC_TOTAL.labels(METHOD, "CANCELLED")._value.get() == cancelled_before + 1
