"""`python -m services.payments`: serve the payments service."""

from pathlib import Path

from services.payments.app import build
from services.payments.settings import PaymentsSettings
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service(
        module="services.payments",
        settings_class=PaymentsSettings,
        build=build,
        migrations=Path(__file__).parent / "migrations",
    )
