"""`python -m services.notifications`: serve the notifications service."""

from pathlib import Path

from services.notifications.app import build
from services.notifications.settings import NotificationsSettings
from services.runtime.server import run_service

if __name__ == "__main__":
    run_service(
        module="services.notifications",
        settings_class=NotificationsSettings,
        build=build,
        migrations=Path(__file__).parent / "migrations",
    )
