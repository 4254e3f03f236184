"""Tables of the events database (SQLAlchemy Core)."""

from sqlalchemy import MetaData

from services.runtime.bus import inbox_table, outbox_table
from services.runtime.db import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
