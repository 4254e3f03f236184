"""`python -m services.users`: serve the users service."""

from pathlib import Path

from services.runtime.server import run_service
from services.users.app import build
from services.users.settings import UsersSettings

if __name__ == "__main__":
    run_service(
        module="services.users",
        settings_class=UsersSettings,
        build=build,
        migrations=Path(__file__).parent / "migrations",
    )
