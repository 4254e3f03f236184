"""Errors as `google.rpc.Status` with details (AIP-193).

Domain code raises `ServiceError` (usually through the helpers below); the server interceptor turns
it into a gRPC status whose details Envoy passes through to REST clients as JSON. Clients branch on
`ErrorInfo.reason`, never on message text. Anything else raised becomes INTERNAL without its text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
import psycopg
import psycopg_pool
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from redis.exceptions import RedisError

ERROR_DOMAIN = "seatmesh.dev"
# One error carries at most this many field violations (then "and N more"): a request with a
# thousand bad entries must not turn into a trailer Envoy refuses (it caps headers near 60 kB).
MAX_VIOLATIONS = 20
# And a message no longer than this.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str
    reason: str = ""


@dataclass
class ServiceError(Exception):
    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()
    resource_type: str = ""
    resource_name: str = ""
    retry_after: float | None = None
    precondition_type: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_status_proto(self) -> status_pb2.Status:
        details: list[object] = []
        if self.reason:
            details.append(
                error_details_pb2.ErrorInfo(
                    reason=self.reason,
                    domain=ERROR_DOMAIN,
                    metadata={key: str(value) for key, value in self.metadata.items()},
                )
            )
        if self.violations:
            shown = self.violations[:MAX_VIOLATIONS]
            field_violations = [
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description, reason=v.reason
                )
                for v in shown
            ]
            if len(self.violations) > len(shown):
                field_violations.append(
                    error_details_pb2.BadRequest.FieldViolation(
                        field="",
                        description=f"and {len(self.violations) - len(shown)} more problems",
                        reason="TOO_MANY_VIOLATIONS",
                    )
                )
            details.append(error_details_pb2.BadRequest(field_violations=field_violations))
        if self.code == grpc.StatusCode.FAILED_PRECONDITION and self.reason:
            details.append(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=self.precondition_type or self.reason,
                            subject=self.resource_name,
                            description=self.message,
                        )
                    ]
                )
            )
        if self.resource_type:
            details.append(
                error_details_pb2.ResourceInfo(
                    resource_type=self.resource_type, resource_name=self.resource_name
                )
            )
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(max(0, int(self.retry_after * 1000)))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        for detail in details:
            packed = any_pb2.Any()
            packed.Pack(detail)  # type: ignore[arg-type]
            status.details.append(packed)
        return status

    def to_grpc_status(self) -> grpc.Status:
        return rpc_status.to_status(self.to_status_proto())


def invalid_argument(
    violations: Iterable[FieldViolation], message: str = "", reason: str = ""
) -> ServiceError:
    violations = tuple(violations)
    if not message:
        shown = "; ".join(f"{v.field}: {v.description}" for v in violations[:MAX_VIOLATIONS])
        more = len(violations) - MAX_VIOLATIONS
        message = (shown + (f"; and {more} more" if more > 0 else "")) or "invalid argument"
        message = message[:MAX_MESSAGE]
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message, reason=reason, violations=violations)


def bad_field(field_path: str, description: str, reason: str = "") -> ServiceError:
    return invalid_argument([FieldViolation(field_path, description)], reason=reason)


def not_found(resource_type: str, resource_name: str, message: str = "") -> ServiceError:
    return ServiceError(
        grpc.StatusCode.NOT_FOUND,
        message or f"{resource_type} {resource_name!r} not found",
        reason="NOT_FOUND",
        resource_type=resource_type,
        resource_name=resource_name,
    )


def _refusal(
    code: grpc.StatusCode, reason: str, message: str, metadata: Mapping[str, object], resource_name: str = ""
) -> ServiceError:
    """A refusal with a stable reason and its ErrorInfo metadata (as text, as ErrorInfo carries it)."""
    return ServiceError(
        code,
        message,
        reason=reason,
        metadata={key: str(value) for key, value in metadata.items()},
        resource_name=resource_name,
    )


def failed_precondition(
    reason: str, message: str, *, resource_name: str = "", **metadata: object
) -> ServiceError:
    return _refusal(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata, resource_name)


def already_exists(reason: str, message: str, **metadata: object) -> ServiceError:
    return _refusal(grpc.StatusCode.ALREADY_EXISTS, reason, message, metadata)


def aborted(reason: str, message: str, **metadata: object) -> ServiceError:
    return _refusal(grpc.StatusCode.ABORTED, reason, message, metadata)


def permission_denied(message: str = "permission denied", reason: str = "PERMISSION_DENIED") -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, message, reason=reason)


def unauthenticated(
    message: str = "authentication required", reason: str = "UNAUTHENTICATED"
) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message, reason=reason)


def resource_exhausted(reason: str, message: str, retry_after: float) -> ServiceError:
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, message, reason=reason, retry_after=retry_after)


def unavailable(reason: str, message: str, retry_after: float | None = None) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, message, reason=reason, retry_after=retry_after)


def parse_uuid(value: str, field_path: str) -> uuid.UUID:
    """Ids on the wire are UUID strings; anything else is the client's mistake, named."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise bad_field(field_path, "must be a UUID" if value else "is required") from None


class Violations:
    """Collects every field problem of a request so the client learns them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field_path: str, description: str, reason: str = "") -> None:
        self.items.append(FieldViolation(field_path, description, reason))

    def check(self, ok: bool, field_path: str, description: str) -> bool:
        if not ok:
            self.add(field_path, description)
        return ok

    def uuid(self, value: str, field_path: str) -> uuid.UUID | None:
        """The id in `value`, or None with a violation noted (see parse_uuid)."""
        try:
            return parse_uuid(value, field_path)
        except ServiceError as error:
            self.items.extend(error.violations)
            return None

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_argument(self.items)


def status_details(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a peer sent, for clients that branch on ErrorInfo.reason."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return None


def error_reason(error: grpc.aio.AioRpcError | grpc.RpcError) -> str:
    status = status_details(error)
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


def error_metadata(error: grpc.aio.AioRpcError | grpc.RpcError) -> dict[str, str]:
    status = status_details(error)
    if status is None:
        return {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    return {}


_TRANSIENT = (
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    ConnectionError,
    RedisError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    """Failures of the infrastructure (database, Redis, a peer service), not of the request:
    worth retrying later, never a reason to give up on a message or blame the caller."""
    if isinstance(error, _TRANSIENT):
        return True
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return False
