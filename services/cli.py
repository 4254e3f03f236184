"""`seatmesh`: operator commands (also `python -m services.cli`).

    seatmesh create-admin --email admin@example.com [--password ...] [--display-name "Site admin"]

creates a verified admin in the users database (SEATMESH_DATABASE_URL, migrated first), or
promotes and verifies the account that already has the email (its password changes only when
--password is given). Without --password the password is read from SEATMESH_ADMIN_PASSWORD or
asked for on the terminal, so it need not appear in the shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from services.runtime.auth import Role
from services.runtime.database import Database
from services.runtime.errors import ServiceError
from services.runtime.migrations import run_migrations
from services.runtime.settings import load_settings
from services.users import convert, domain
from services.users.passwords import PasswordHasher
from services.users.settings import UsersSettings
from services.users.store import UserStore

USERS_MIGRATIONS = Path(__file__).resolve().parent / "users" / "migrations"


class CommandError(Exception):
    """A problem to tell the operator in one line (exit status 1)."""


@dataclass(frozen=True)
class AdminResult:
    user_id: str
    created: bool


def _one_line(error: ServiceError) -> str:
    """The domain's field problems as the operator typed them: `--display-name is required`."""
    return "; ".join(f"--{item.field.replace('_', '-')} {item.description}" for item in error.violations)


async def create_admin(
    settings: UsersSettings, *, email: str, password: str | None, display_name: str, migrate: bool = False
) -> AdminResult:
    """Create a verified admin, or promote and verify the existing account with this email.

    With `migrate`, the database is created and migrated first (after the inputs were checked, so
    a typo touches nothing).
    """
    try:
        account = domain.validate_admin_account(email=email, password=password, display_name=display_name)
    except ServiceError as error:
        raise CommandError(_one_line(error)) from None
    if migrate:
        await asyncio.to_thread(run_migrations, settings.database_url, USERS_MIGRATIONS)
    hasher = PasswordHasher(memory_kib=settings.password_memory_kib, time_cost=settings.password_time_cost)
    password_hash = await hasher.hash(account.password) if account.password is not None else None
    database = Database(settings.database_url, source="users", pool_size=1)
    await database.open()
    try:
        async with UserStore(database).transaction() as tx:
            existing = await tx.user_by_email(account.email)
            if existing is not None:
                user = await tx.make_admin(existing.id, password_hash)
                return AdminResult(str(user.id), created=False)
            if password_hash is None:
                raise CommandError(f"no account has the email {account.email}; give --password to create one")
            try:
                user = await tx.insert_user(
                    email=account.email,
                    password_hash=password_hash,
                    display_name=account.display_name,
                    phone="",
                    role=Role.ADMIN,
                    email_verified=True,
                )
            except ServiceError as error:
                # Another sign-up won the race for the address (the unique index refused ours).
                if error.reason != "EMAIL_TAKEN":
                    raise
                raise CommandError(
                    f"{account.email} registered just now; run the command again to promote it"
                ) from None
            await tx.publish(convert.user_registered(user))
            return AdminResult(str(user.id), created=True)
    finally:
        await database.close()


def _password(args: argparse.Namespace) -> str | None:
    if args.password is not None:
        return str(args.password)
    from_env = os.environ.get("SEATMESH_ADMIN_PASSWORD")
    if from_env:
        return from_env
    if sys.stdin.isatty():
        first = getpass.getpass("Password for the admin (empty keeps an existing account's): ")
        if not first:
            return None
        if getpass.getpass("Again: ") != first:
            raise CommandError("the passwords differ")
        return first
    return None


def _create_admin_command(args: argparse.Namespace) -> int:
    settings = load_settings(UsersSettings)
    password = _password(args)
    result = asyncio.run(
        create_admin(
            settings, email=args.email, password=password, display_name=args.display_name, migrate=True
        )
    )
    verb = "created" if result.created else "promoted"
    print(f"{verb} admin {domain.normalize_email(args.email)} (id {result.user_id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seatmesh", description="seatmesh operator commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admin = commands.add_parser(
        "create-admin",
        help="create a verified admin, or promote an existing account (uses SEATMESH_DATABASE_URL)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="default: $SEATMESH_ADMIN_PASSWORD, else asked on the terminal")
    admin.add_argument("--display-name", default="Administrator")
    admin.set_defaults(handler=_create_admin_command)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as error:
        print(f"seatmesh: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
