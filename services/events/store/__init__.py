"""The SQL of the events service: `EventStore` (single statements in autocommit: reads and the
seat inventory) and `EventTransaction` (the unit of work of every other write, with its outbox
rows). Statements are SQLAlchemy Core, compiled once at import unless the request shapes them.

Modules: `event_store`, `event_transaction`, `inventory` (reserve and release: the seat
invariant's statements), `listing` (the per-request list statements), `records` (rows into
domain types; rows never leave the store).
"""

from services.events.store.event_store import EventStore
from services.events.store.event_transaction import EventTransaction

__all__ = ["EventStore", "EventTransaction"]
