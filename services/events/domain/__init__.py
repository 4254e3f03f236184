"""The events domain: what an event, a reservation, a listing and a review are, and the rules about
them as plain functions (no I/O, no protobuf, no SQL): the servicer feeds them what it read and
acts on the answer.

One convention throughout: a `validate_*` function collects every problem of its input in a
`Violations` and raises one INVALID_ARGUMENT (the client learns them all at once), else returns the
(normalized) value; a refusal raises a `ServiceError` with a stable ErrorInfo reason, because
clients branch on the reason, never on the text; decisions return values; predicates return bool.

Modules: `events` (the event, its validation, updates, deletion and cancellation), `reservations`
(seats), `listing` (ListEvents' filters and order, tags), `reviews`.
"""

from services.events.domain.events import (
    DEFAULT_MAX_SEATS_PER_BOOKING,
    DELETE_WINDOW,
    MAX_BATCH_GET,
    MAX_CANCEL_REASON,
    MAX_CAPACITY,
    NOTABLE_FIELDS,
    UPDATABLE_FIELDS,
    EventFields,
    EventRecord,
    State,
    changed_fields,
    check_capacity,
    check_deletable,
    check_editable,
    deletable_until,
    etag_for,
    event_has_reservations,
    event_not_found,
    is_valid_time_zone,
    merge_update,
    must_cancel,
    normalize_fields,
    normalize_tags,
    notable_changes,
    resolve_update_mask,
    validate_batch_ids,
    validate_cancel_reason,
    validate_fields,
)
from services.events.domain.listing import (
    ListQuery,
    Order,
    TagCount,
    build_list_query,
    parse_order_by,
    sort_key,
    sort_key_kinds,
)
from services.events.domain.reservations import (
    Refusal,
    ReleaseOutcome,
    ReserveOutcome,
    ReserveStatus,
    SeatRequest,
    reserved_event,
    validate_seat_request,
    why_not_reservable,
)
from services.events.domain.reviews import ReviewRecord, review_problems

__all__ = [
    "DEFAULT_MAX_SEATS_PER_BOOKING",
    "DELETE_WINDOW",
    "MAX_BATCH_GET",
    "MAX_CANCEL_REASON",
    "MAX_CAPACITY",
    "NOTABLE_FIELDS",
    "UPDATABLE_FIELDS",
    "EventFields",
    "EventRecord",
    "ListQuery",
    "Order",
    "Refusal",
    "ReleaseOutcome",
    "ReserveOutcome",
    "ReserveStatus",
    "ReviewRecord",
    "SeatRequest",
    "State",
    "TagCount",
    "build_list_query",
    "changed_fields",
    "check_capacity",
    "check_deletable",
    "check_editable",
    "deletable_until",
    "etag_for",
    "event_has_reservations",
    "event_not_found",
    "is_valid_time_zone",
    "merge_update",
    "must_cancel",
    "normalize_fields",
    "normalize_tags",
    "notable_changes",
    "parse_order_by",
    "reserved_event",
    "resolve_update_mask",
    "review_problems",
    "sort_key",
    "sort_key_kinds",
    "validate_batch_ids",
    "validate_cancel_reason",
    "validate_fields",
    "validate_seat_request",
    "why_not_reservable",
]
