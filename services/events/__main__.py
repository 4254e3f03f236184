"""`python -m services.events`: serve the events service."""

from pathlib import Path

from services.events.app import build
from services.events.settings import EventsSettings
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service(
        module="services.events",
        settings_class=EventsSettings,
        build=build,
        migrations=Path(__file__).parent / "migrations",
    )
