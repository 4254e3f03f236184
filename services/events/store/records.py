"""The columns every event read returns, and rows into domain types (rows never leave the store).

The domain's records are named column for column, so a row becomes one by name; only what the
database keeps in another form (an array, a state's text) is converted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.events.domain import EventRecord, ReviewRecord, State
from services.events.tables import events

_EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(EventRecord))
_REVIEW_FIELDS = tuple(field.name for field in dataclasses.fields(ReviewRecord))

EVENT_COLUMNS = tuple(events.c[name] for name in _EVENT_FIELDS)


def event_record(row: Any) -> EventRecord:
    values = {name: getattr(row, name) for name in _EVENT_FIELDS}
    return EventRecord(**{**values, "tags": tuple(row.tags), "state": State(row.state)})


def review_record(row: Any) -> ReviewRecord:
    return ReviewRecord(**{name: getattr(row, name) for name in _REVIEW_FIELDS})
