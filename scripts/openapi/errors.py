"""Error answers: `google.rpc.Status` JSON, under the HTTP status the edge gives each gRPC code.

Every error body is a Status with typed details (`@type` names the detail). Services put an
`ErrorInfo` with a stable `reason` on every refusal a client may branch on; Envoy's own replies
(`local_reply_config`) carry one too, with the reasons in LOCAL_REPLY_CODES.

Which reasons an RPC answers is written in its proto comment, as a last paragraph
`Errors: REASON, REASON.`; REASONS below says each reason's gRPC code (hence HTTP status) and
meaning, and a unit test checks it against the reasons the services' code raises. Reasons every RPC
can meet (a token the service refuses, an undecodable request, a dependency down) document.py adds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scripts.openapi.schemas import SCHEMA_PREFIX, Mode, Schema, Schemas

# gRPC code -> the HTTP status Envoy's transcoder answers it with.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
CODE_NUMBER = {
    "DEADLINE_EXCEEDED": 4,
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}


@dataclass(frozen=True)
class Reason:
    code: str
    meaning: str


REASONS = {
    # The runtime, in every service.
    "UNDECODABLE_REQUEST": Reason("INVALID_ARGUMENT", "a path id or query parameter is not valid UTF-8"),
    "UNAUTHENTICATED": Reason("UNAUTHENTICATED", "this needs an access token"),
    "INVALID_TOKEN": Reason("UNAUTHENTICATED", "the access token is not one this mesh issued"),
    "TOKEN_EXPIRED": Reason("UNAUTHENTICATED", "the access token expired: refresh it"),
    "ROLE_REQUIRED": Reason("PERMISSION_DENIED", "the caller's role may not do this"),
    "USER_REQUIRED": Reason("PERMISSION_DENIED", "only people (not services) have this"),
    "EMAIL_NOT_VERIFIED": Reason("FAILED_PRECONDITION", "verify your email address first"),
    "NOT_FOUND": Reason("NOT_FOUND", "no such resource, or not one the caller may see"),
    "REQUEST_ID_REUSED": Reason("INVALID_ARGUMENT", "this request id came before with another body"),
    "DEPENDENCY_UNAVAILABLE": Reason("UNAVAILABLE", "the database or Redis is unreachable: retry shortly"),
    "EVENTS_UNAVAILABLE": Reason("UNAVAILABLE", "the events service did not answer: retry shortly"),
    # users
    "EMAIL_TAKEN": Reason("ALREADY_EXISTS", "an account with this email exists"),
    "VERIFICATION_CODE_INVALID": Reason("INVALID_ARGUMENT", "not the code sent to this address"),
    "ALREADY_VERIFIED": Reason("FAILED_PRECONDITION", "this email address or phone is verified already"),
    "VERIFICATION_CODE_EXPIRED": Reason("FAILED_PRECONDITION", "the code expired: ask for a new one"),
    "VERIFICATION_CODE_LOCKED": Reason("FAILED_PRECONDITION", "too many wrong codes: ask for a new one"),
    "TOO_MANY_VERIFICATION_CODES": Reason(
        "RESOURCE_EXHAUSTED", "codes are sent at most so often (RetryInfo)"
    ),
    "TOO_MANY_SIGNUPS": Reason(
        "RESOURCE_EXHAUSTED", "too many sign-ups from one address or in all (RetryInfo)"
    ),
    "PHONE_REQUIRED": Reason("FAILED_PRECONDITION", "the account has no phone number to verify"),
    "INVALID_CREDENTIALS": Reason("UNAUTHENTICATED", "wrong email or password"),
    "TOO_MANY_LOGIN_ATTEMPTS": Reason("RESOURCE_EXHAUSTED", "too many failed sign-ins (RetryInfo)"),
    "INVALID_REFRESH_TOKEN": Reason("UNAUTHENTICATED", "unknown refresh token"),
    "REFRESH_TOKEN_REVOKED": Reason("UNAUTHENTICATED", "the refresh token was revoked (logout)"),
    "REFRESH_TOKEN_REUSED": Reason(
        "UNAUTHENTICATED", "a rotated refresh token came back: its family is revoked"
    ),
    "REFRESH_TOKEN_EXPIRED": Reason("UNAUTHENTICATED", "the refresh token expired: sign in again"),
    "NOT_YOUR_TOKEN": Reason("PERMISSION_DENIED", "the refresh token belongs to someone else"),
    "ROLE_NOT_ASSIGNABLE": Reason("INVALID_ARGUMENT", "the service role is never a person's"),
    "LAST_ADMIN": Reason("FAILED_PRECONDITION", "the last admin cannot stop being one"),
    "INVALID_SERVICE_CREDENTIALS": Reason("UNAUTHENTICATED", "internal: a service's secret is wrong"),
    "INTERNAL_RPC": Reason("PERMISSION_DENIED", "internal: only services may call this RPC"),
    # events
    "NOT_EVENT_OWNER": Reason("PERMISSION_DENIED", "only the event's organizer or an admin may change it"),
    "ETAG_MISMATCH": Reason("ABORTED", "the event changed since it was read (metadata: currentEtag)"),
    "EVENT_NOT_EDITABLE": Reason("FAILED_PRECONDITION", "a cancelled or completed event cannot change"),
    "CAPACITY_BELOW_SEATS_TAKEN": Reason("FAILED_PRECONDITION", "capacity below the seats already taken"),
    "DELETE_WINDOW_PASSED": Reason(
        "FAILED_PRECONDITION", "deletable only within an hour of creation: cancel it"
    ),
    "EVENT_HAS_RESERVATIONS": Reason("FAILED_PRECONDITION", "the event has (or had) bookings: cancel it"),
    "EVENT_NOT_CANCELLABLE": Reason("FAILED_PRECONDITION", "the event is over"),
    "RESERVATION_RELEASED": Reason("FAILED_PRECONDITION", "internal: this reservation id was released"),
    "RESERVATION_ID_REUSED": Reason("INVALID_ARGUMENT", "internal: reservation id reused for other seats"),
    "TOO_MANY_STREAMS": Reason("RESOURCE_EXHAUSTED", "too many live streams open (RetryInfo)"),
    # bookings
    "SEATS_OUT_OF_RANGE": Reason("INVALID_ARGUMENT", "more seats than the event allows per booking"),
    "OWN_EVENT": Reason("FAILED_PRECONDITION", "organizers cannot book their own events"),
    "EVENT_NOT_BOOKABLE": Reason("FAILED_PRECONDITION", "the event is cancelled or over"),
    "EVENT_STARTED": Reason("FAILED_PRECONDITION", "the event has started"),
    "EVENT_ENDED": Reason("FAILED_PRECONDITION", "the event has ended"),
    "SOLD_OUT": Reason("FAILED_PRECONDITION", "not enough seats left (metadata: seats_available)"),
    "ALREADY_BOOKED": Reason(
        "ALREADY_EXISTS", "an active booking of this event exists (metadata: booking_id)"
    ),
    "SCHEDULE_CONFLICT": Reason("FAILED_PRECONDITION", "another booking overlaps this event in time"),
    "CONCURRENT_CHANGE": Reason("ABORTED", "the booking changed meanwhile: try again"),
    "BOOKING_NOT_ACTIVE": Reason("FAILED_PRECONDITION", "the booking is cancelled, rejected or expired"),
    "NOT_HOST": Reason("PERMISSION_DENIED", "only the event's host may do this"),
    "NOT_GUEST": Reason("PERMISSION_DENIED", "only the booking's guest may do this"),
    "NOT_AWAITING_APPROVAL": Reason("FAILED_PRECONDITION", "the booking is not awaiting approval"),
    "APPROVAL_EXPIRED": Reason("FAILED_PRECONDITION", "the time to answer this request ran out"),
    "NOT_ATTENDED": Reason("FAILED_PRECONDITION", "only confirmed bookings can be reviewed or rated"),
    "EVENT_NOT_COMPLETED": Reason("FAILED_PRECONDITION", "reviews and ratings open once the event is over"),
    "ALREADY_REVIEWED": Reason("ALREADY_EXISTS", "this booking was reviewed already"),
    "ALREADY_RATED": Reason("ALREADY_EXISTS", "this guest was rated already"),
    # payments
    "CHECKOUT_NOT_OPEN": Reason("FAILED_PRECONDITION", "no payment was opened for this booking (yet)"),
    "HOLD_EXPIRED": Reason("FAILED_PRECONDITION", "the booking's hold on its seats ended: no checkout"),
    "PAYMENT_PROVIDER_UNAVAILABLE": Reason("UNAVAILABLE", "the payment provider did not answer: retry"),
    "NOT_MANUAL_PAYMENT": Reason("FAILED_PRECONDITION", "only manual payments are marked paid by hand"),
    "PAYMENT_NOT_CAPTURED": Reason("FAILED_PRECONDITION", "no money was captured: nothing to refund"),
    "REFUND_EXCEEDS_CAPTURED": Reason(
        "FAILED_PRECONDITION", "more than captured less refunded (metadata: refundable)"
    ),
    "WEBHOOK_SIGNATURE_INVALID": Reason("INVALID_ARGUMENT", "the Stripe-Signature is wrong or too old"),
    "STRIPE_NOT_CONFIGURED": Reason("FAILED_PRECONDITION", "this deployment does not take Stripe payments"),
    "CURRENCY_NOT_SUPPORTED": Reason("FAILED_PRECONDITION", "the provider cannot charge this amount exactly"),
    # notifications
    "NOT_EVENT_ORGANIZER": Reason("PERMISSION_DENIED", "organizers write only to their own events' guests"),
    "BUS_UNAVAILABLE": Reason("UNAVAILABLE", "the bus (Redis) is unreachable: retry shortly"),
    "TOO_MANY_MESSAGES": Reason(
        "RESOURCE_EXHAUSTED", "too many messages from this sender or to this event (RetryInfo)"
    ),
    "THROTTLE_UNAVAILABLE": Reason(
        "UNAVAILABLE", "messages cannot be counted right now (Redis): retry shortly"
    ),
    "LIVE_FEED_INTERRUPTED": Reason("UNAVAILABLE", "the live stream broke off: watch again"),
    "LIVE_FEED_UNAVAILABLE": Reason("UNAVAILABLE", "live notifications are not available right now"),
}

# The detail types seatmesh sends, in the order a Status lists them.
DETAIL_TYPES = [
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.PreconditionFailure",
    "google.rpc.ResourceInfo",
    "google.rpc.RetryInfo",
]
TYPE_URL_PREFIX = "type.googleapis.com/"
ERROR_INFO_URL = TYPE_URL_PREFIX + "google.rpc.ErrorInfo"

_ERRORS_PARAGRAPH = re.compile(r"(?:^|\n\n)Errors:\s*(?P<reasons>[A-Z0-9_,\s]+)\.\s*$")


def split_errors(comment: str) -> tuple[str, list[str]]:
    """An RPC comment without its `Errors:` paragraph, and the reasons that paragraph lists."""
    match = _ERRORS_PARAGRAPH.search(comment)
    if match is None:
        return comment, []
    reasons = [name.strip() for name in match["reasons"].split(",") if name.strip()]
    unknown = [name for name in reasons if name not in REASONS]
    if unknown:
        raise ValueError(f"unknown reasons {unknown} in: {comment!r}; add them to REASONS")
    return comment[: match.start()].strip(), reasons


@dataclass(frozen=True)
class EdgeReply:
    """An answer Envoy makes itself: its HTTP status, gRPC code number and ErrorInfo.reason."""

    status: int
    code: int
    reason: str
    meaning: str


def add_components(schemas: Schemas) -> None:
    """google.rpc.Status and its detail types, as fixed components."""
    details = []
    for type_name in DETAIL_TYPES:
        name = type_name.rsplit(".", 1)[1]
        schema = schemas.message_schema(type_name, Mode.OUTPUT)
        schema["properties"] = {
            "@type": {
                "type": "string",
                "const": TYPE_URL_PREFIX + type_name,
                "description": "Which detail this is.",
            },
            **schema["properties"],
        }
        schema["required"] = ["@type", *schema.get("required", [])]
        schemas.fixed[name] = schema
        details.append({"$ref": SCHEMA_PREFIX + name})
    schemas.fixed["ErrorDetail"] = {
        "description": "One typed detail of an error; `@type` says which.",
        "oneOf": details,
        "discriminator": {
            "propertyName": "@type",
            "mapping": {
                TYPE_URL_PREFIX + type_name: reference["$ref"]
                for type_name, reference in zip(DETAIL_TYPES, details, strict=True)
            },
        },
    }
    schemas.fixed["Status"] = {
        "type": "object",
        "description": (
            "An error (google.rpc.Status): `code` is the gRPC code, `message` is for people, and "
            "`details` carry what programs need; branch on the ErrorInfo `reason`, never on `message`."
        ),
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "The google.rpc.Code."},
            "message": {"type": "string", "description": "For developers; may change."},
            "details": {
                "type": "array",
                "description": "ErrorInfo, BadRequest, PreconditionFailure, ResourceInfo, RetryInfo.",
                "items": {"$ref": SCHEMA_PREFIX + "ErrorDetail"},
            },
        },
        "required": ["code", "message"],
    }


@dataclass
class ErrorStatus:
    """What one operation may answer under one HTTP status."""

    codes: set[int]
    reasons: dict[str, str]


def error_responses(reasons: list[str], edge_replies: list[EdgeReply]) -> dict[str, Schema]:
    """A response for every error status an operation can get. Each lists its ErrorInfo reasons in
    prose and in `x-error-reasons` (and the gRPC codes in `x-grpc-codes`), which the schema-driven
    fuzz test holds every answer to."""
    by_status: dict[int, ErrorStatus] = {}
    for name in reasons:
        reason = REASONS[name]
        status = by_status.setdefault(HTTP_STATUS[reason.code], ErrorStatus(set(), {}))
        status.codes.add(CODE_NUMBER[reason.code])
        status.reasons[name] = reason.meaning
    for reply in edge_replies:
        status = by_status.setdefault(reply.status, ErrorStatus(set(), {}))
        status.codes.add(reply.code)
        status.reasons.setdefault(reply.reason, reply.meaning)
    responses: dict[str, Schema] = {}
    for http_status in sorted(by_status):
        found = by_status[http_status]
        lines = "\n".join(f"- `{name}`: {meaning}" for name, meaning in sorted(found.reasons.items()))
        responses[str(http_status)] = {
            "description": f"ErrorInfo reasons:\n\n{lines}",
            "content": {"application/json": {"schema": {"$ref": SCHEMA_PREFIX + "Status"}}},
            "x-error-reasons": sorted(found.reasons),
            "x-grpc-codes": sorted(found.codes),
        }
    return responses
