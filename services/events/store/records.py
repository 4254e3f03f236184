"""The columns every event read returns, and rows into domain types (rows never leave the store).

The domain's records are named column for column, so a row becomes one by name; only what the
database keeps in another form (an array, a state's text, a price in two columns, a payment hold
in seconds, the refund policy's hours) is converted.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from services.events.domain import EventRecord, ReviewRecord, State
from services.events.tables import events
from services.runtime.money import Amount

# EventRecord fields the database keeps under other columns (see event_record).
_CONVERTED = {
    "price": ("price_minor", "price_currency"),
    "refund_policy": ("refund_full_until_hours",),
    "payment_hold": ("payment_hold_seconds",),
}
_EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(EventRecord) if field.name not in _CONVERTED)
_REVIEW_FIELDS = tuple(field.name for field in dataclasses.fields(ReviewRecord))

EVENT_COLUMNS = tuple(
    events.c[name]
    for name in (*_EVENT_FIELDS, *(column for columns in _CONVERTED.values() for column in columns))
)


def event_record(row: Any) -> EventRecord:
    values = {name: getattr(row, name) for name in _EVENT_FIELDS}
    price = Amount(row.price_minor, row.price_currency) if row.price_minor is not None else None
    return EventRecord(
        **{
            **values,
            "tags": tuple(row.tags),
            "state": State(row.state),
            "price": price,
            "refund_policy": row.refund_full_until_hours,
            "payment_hold": timedelta(seconds=row.payment_hold_seconds),
        }
    )


def review_record(row: Any) -> ReviewRecord:
    return ReviewRecord(**{name: getattr(row, name) for name in _REVIEW_FIELDS})
