from services.payments.tables import metadata
from services.runtime.migrations import run_migrations_online

run_migrations_online(metadata)
