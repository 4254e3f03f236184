"""`seatmesh`: operator commands (also `python -m services.cli`).

    seatmesh create-admin --email admin@example.com [--password ...] [--display-name "Site admin"]

creates a verified admin in the users database (SEATMESH_DATABASE_URL, migrated first), or
promotes the account that already has the email, if its owner verified the address. Promoting
always sets the password you give and signs the account out everywhere: an account someone else
registered first, waiting for this promotion, must not keep a password or a session you never saw.
Without --password the password is read from SEATMESH_ADMIN_PASSWORD or asked for on the
terminal, so it need not appear in the shell history.
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


# What the operator can do about an account that is not promoted.
_PROMOTION_ADVICE = {
    domain.PromotionRefusal.NOT_VERIFIED: (
        "{email} has an account whose address was never verified, so whoever registered it may not"
        " own the mailbox: it is not promoted. If the account is yours, verify the address with the"
        " code emailed to it (POST /v1/users:resendVerification sends a new one) and run this command"
        " again; otherwise choose another address."
    ),
    domain.PromotionRefusal.PASSWORD_REQUIRED: (
        "{email} already has an account; promoting it replaces its password and ends its sessions:"
        " give the new password with --password or SEATMESH_ADMIN_PASSWORD (or type it when asked)."
    ),
}


async def create_admin(
    settings: UsersSettings, *, email: str, password: str | None, display_name: str, migrate: bool = False
) -> AdminResult:
    """Create a verified admin, or promote the existing (verified) account with this email,
    replacing its password and ending its sessions.

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
    password = account.password
    database = Database(settings.database_url, source="users", pool_size=1)
    await database.open()
    try:
        async with UserStore(database).transaction() as tx:
            existing = await tx.user_by_email_for_update(account.email)
            if existing is not None:
                refusal = domain.admin_promotion_refusal(existing, password_given=password is not None)
                if refusal is not None or password is None:
                    advice = _PROMOTION_ADVICE[refusal or domain.PromotionRefusal.PASSWORD_REQUIRED]
                    raise CommandError(advice.format(email=account.email))
                user = await tx.make_admin(existing.id, await hasher.hash(password))
                return AdminResult(str(user.id), created=False)
            if password is None:
                raise CommandError(
                    f"no account has the email {account.email};"
                    " give --password (or SEATMESH_ADMIN_PASSWORD) to create one"
                )
            try:
                user = await tx.insert_user(
                    email=account.email,
                    password_hash=await hasher.hash(password),
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
                    f"{account.email} was registered by a sign-up just now; run the command again"
                    " once its owner verified the address"
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
        first = getpass.getpass("Password for the admin: ")
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
        help="create a verified admin, or promote a verified account (uses SEATMESH_DATABASE_URL)",
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
