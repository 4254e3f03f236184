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

from seatmesh.users.v1 import bus_pb2, users_pb2
from services.runtime.bus import publish
from services.runtime.db import create_engine, run_migrations
from services.runtime.settings import load_settings
from services.users import models, rules, store
from services.users.passwords import PasswordHasher
from services.users.settings import UsersSettings

USERS_MIGRATIONS = Path(__file__).resolve().parent / "users" / "migrations"


class CommandError(Exception):
    """A problem to tell the operator in one line (exit status 1)."""


@dataclass(frozen=True)
class AdminResult:
    user_id: str
    created: bool


async def create_admin(
    settings: UsersSettings, *, email: str, password: str | None, display_name: str, migrate: bool = False
) -> AdminResult:
    """Create a verified admin, or promote and verify the existing account with this email.

    With `migrate`, the database is created and migrated first (after the inputs were checked, so
    a typo touches nothing).
    """
    email = rules.normalize_email(email)
    problem = rules.email_problem(email)
    if problem:
        raise CommandError(f"--email {problem}")
    if password is not None:
        problem = rules.password_problem(password, email)
        if problem:
            raise CommandError(f"--password {problem}")
    problem = rules.display_name_problem(display_name)
    if problem:
        raise CommandError(f"--display-name {problem}")
    if migrate:
        await asyncio.to_thread(run_migrations, settings.database_url, USERS_MIGRATIONS)
    hasher = PasswordHasher(memory_kib=settings.password_memory_kib, time_cost=settings.password_time_cost)
    password_hash = await hasher.hash(password) if password is not None else None
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            existing = await store.user_by_email(connection, email)
            if existing is not None:
                user = await store.make_admin(connection, existing.id, password_hash)
                return AdminResult(str(user.id), created=False)
            if password_hash is None:
                raise CommandError(f"no account has the email {email}; give --password to create one")
            try:
                user = await store.insert_user(
                    connection,
                    email=email,
                    password_hash=password_hash,
                    display_name=display_name.strip(),
                    phone="",
                    role="admin",
                    email_verified=True,
                )
            except store.EmailTaken:
                raise CommandError(
                    f"{email} registered just now; run the command again to promote it"
                ) from None
            await publish(
                connection,
                models.outbox,
                bus_pb2.UserRegistered(
                    user_id=str(user.id),
                    email=user.email,
                    display_name=user.display_name,
                    role=users_pb2.ROLE_ADMIN,
                    locale=user.locale,
                ),
                source="users",
            )
            return AdminResult(str(user.id), created=True)
    finally:
        await engine.dispose()


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
    print(f"{verb} admin {rules.normalize_email(args.email)} (id {result.user_id})")
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
