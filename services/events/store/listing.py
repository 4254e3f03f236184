"""The list statements: built per call, because their filters and keyset position come with the
request. Each filter and order of ListEvents is served by an index (tests/integration/
test_events_indexes.py runs these through EXPLAIN)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, bindparam, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import DateTime, Text

from services.events.domain import ListQuery, Order, State
from services.events.domain.listing import SortKey
from services.events.store.records import EVENT_COLUMNS
from services.events.tables import SEARCH_CONFIG, events, reviews

_ORDER_COLUMNS: dict[Order, tuple[ColumnElement[Any], bool]] = {
    # order -> (first sort column, descending)
    Order.START_TIME: (events.c.start_time, False),
    Order.START_TIME_DESC: (events.c.start_time, True),
    Order.RATING_DESC: (events.c.rating_average, True),
    Order.CREATE_TIME_DESC: (events.c.create_time, True),
}


def list_statement(query: ListQuery, after: SortKey | None, limit: int) -> Select[Any]:
    """ListEvents' query: filters, then keyset order (sort column, id) in one direction."""
    conditions: list[ColumnElement[bool]] = []
    if query.city:
        conditions.append(func.lower(events.c.city) == query.city)
    if query.tags:
        conditions.append(events.c.tags.overlap(bindparam("tags", list(query.tags), type_=ARRAY(Text))))
    if query.state is not None:
        conditions.append(events.c.state == query.state.value)
    if query.start_time_after is not None:
        conditions.append(events.c.start_time >= query.start_time_after)
    if query.start_time_before is not None:
        conditions.append(events.c.start_time < query.start_time_before)
    if query.has_available_seats:
        conditions.append(events.c.seats_taken < events.c.capacity)
    if query.min_rating > 0:
        conditions.append(events.c.rating_average >= query.min_rating)
    if query.organizer_id:
        conditions.append(events.c.organizer_id == query.organizer_id)
    if query.query:
        conditions.append(events.c.search.op("@@")(func.websearch_to_tsquery(SEARCH_CONFIG, query.query)))
    column, descending = _ORDER_COLUMNS[query.order]
    if after is not None:
        position = tuple_(column, events.c.id)
        boundary = tuple_(literal(after[0], type_=column.type), literal(after[1], type_=Uuid))
        conditions.append(position < boundary if descending else position > boundary)
    ordering = [column.desc(), events.c.id.desc()] if descending else [column.asc(), events.c.id.asc()]
    return select(*EVENT_COLUMNS).where(*conditions).order_by(*ordering).limit(limit)


def tags_statement(after: tuple[int, str] | None, limit: int) -> Select[Any]:
    """Tags of scheduled events, most used first, then by name."""
    tagged = (
        select(func.unnest(events.c.tags).label("tag"))
        .where(events.c.state == State.SCHEDULED.value)
        .subquery("tagged")
    )
    count = func.count().label("event_count")
    statement = select(tagged.c.tag, count).group_by(tagged.c.tag)
    if after is not None:
        after_count, after_name = after
        statement = statement.having(
            (func.count() < after_count) | ((func.count() == after_count) & (tagged.c.tag > after_name))
        )
    return statement.order_by(count.desc(), tagged.c.tag.asc()).limit(limit)


def reviews_statement(
    event_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> Select[Any]:
    """An event's reviews, newest first (the index ix_reviews_event_newest)."""
    conditions: list[ColumnElement[bool]] = [reviews.c.event_id == event_id]
    if after is not None:
        boundary = tuple_(literal(after[0], type_=DateTime(timezone=True)), literal(after[1], type_=Uuid))
        conditions.append(tuple_(reviews.c.create_time, reviews.c.id) < boundary)
    return (
        select(reviews)
        .where(*conditions)
        .order_by(reviews.c.create_time.desc(), reviews.c.id.desc())
        .limit(limit)
    )
