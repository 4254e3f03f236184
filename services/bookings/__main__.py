"""`python -m services.bookings`: serve the bookings service."""

from pathlib import Path

from services.bookings.app import build
from services.bookings.settings import BookingsSettings
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service(
        module="services.bookings",
        settings_class=BookingsSettings,
        build=build,
        migrations=Path(__file__).parent / "migrations",
    )
