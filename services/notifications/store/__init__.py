"""The SQL of notifications: `NotificationStore` (single statements in autocommit: the reads, and the
delivery worker's claim and SENT record, see deliveries.py) and `NotificationTransaction` (the unit
of work with the service's other writes; bus handlers run in one).

Split by concern, each module holding its statements and its part of the two classes:
`fan_out` (who a message is for; the message with its in-app rows and deliveries), `projections`
(bookings and events as the bus described them), `accounts` (registrations and verifications, for
the welcome), `reminders` (the schedule), `deliveries` (email and SMS sends), `inbox` (in-app
notifications and preferences), `sends` (SendNotification's request ids).

Static statements are SQLAlchemy Core built and compiled once at import (`Statement.of`): building
constructs costs more CPU than running them, and a bus message runs several. Lists with filters
are built per call. Rows become domain types before they leave the store.
"""

from __future__ import annotations

import contextlib

from services.notifications.store.accounts import Accounts
from services.notifications.store.deliveries import DeliveryOutcomes, DeliveryQueue
from services.notifications.store.fan_out import FanOut
from services.notifications.store.inbox import InboxReads, InboxWrites
from services.notifications.store.projections import EventReads, Projections
from services.notifications.store.reminders import Reminders
from services.notifications.store.sends import Sends
from services.runtime.batching import Batcher
from services.runtime.database import Database, Transaction


class NotificationTransaction(
    FanOut, Projections, Accounts, Reminders, DeliveryOutcomes, InboxWrites, Sends, Transaction
):
    """One unit of work of notifications: its statements commit together or not at all."""


class NotificationStore(InboxReads, DeliveryQueue, EventReads):
    def __init__(self, database: Database) -> None:
        self.database = database
        self._sent_records = Batcher(self._record_sent)

    def transaction(self) -> contextlib.AbstractAsyncContextManager[NotificationTransaction]:
        return self.database.transaction(NotificationTransaction)


__all__ = ["NotificationStore", "NotificationTransaction"]
