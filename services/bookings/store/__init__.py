"""The SQL of the bookings service (SQLAlchemy Core on the runtime's Database).

`BookingStore` runs single statements in autocommit: the booking hot path, the reconciler's lease,
the waitlist's reads, the lists (autocommit.py). `BookingTransaction` is the unit of work for what
must commit together, bus events included (transaction.py). Both share the columns a booking is
read with and how rows become domain types (rows.py); rows never leave the store.
"""

from services.bookings.store.autocommit import BookingStore
from services.bookings.store.transaction import BookingTransaction, NewEntry

__all__ = ["BookingStore", "BookingTransaction", "NewEntry"]
