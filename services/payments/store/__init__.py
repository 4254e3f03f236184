"""The SQL of the payments service: `PaymentStore` (single statements in autocommit: reads, lists,
the report, the refund worker's lease) and `PaymentTransaction` (the unit of work of every other
write, with its outbox rows). Statements are SQLAlchemy Core, compiled once at import unless the
request shapes them.

Modules: `payment_store`, `payment_transaction`, `report` (the sales report's statements), `records`
(rows into domain types; rows never leave the store).
"""

from services.payments.store.payment_store import PaymentStore
from services.payments.store.payment_transaction import PaymentTransaction

__all__ = ["PaymentStore", "PaymentTransaction"]
