"""`seatmesh create-admin`: the first admin from the shell, against a real (fresh) users database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from scripts.mesh import database_url_for
from services.runtime.migrations import libpq_conninfo
from tests.support.engines import Engines

SEATMESH = Path(sys.executable).parent / "seatmesh"


def _run(command: list[str], database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")} | {
        "SEATMESH_DATABASE_URL": database_url,
        **env,
    }
    return subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def _account(database_url: str, email: str) -> tuple[str, bool, str] | None:
    with psycopg.connect(libpq_conninfo(database_url)) as connection:
        row = connection.execute(
            "SELECT role, email_verified, password_hash FROM users WHERE email = %s", (email,)
        ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


@pytest.fixture
def database_url(engines: Engines) -> str:
    # Not created yet: the command creates and migrates it, as on a fresh deployment.
    return database_url_for(engines.server_url, f"{engines.database_prefix}_cli_{uuid.uuid4().hex[:8]}")


def _create_admin(database_url: str, email: str, *password: str) -> subprocess.CompletedProcess[str]:
    arguments = ["--password", *password] if password else []
    return _run([str(SEATMESH), "create-admin", "--email", email, *arguments], database_url)


def _insert_account(database_url: str, email: str, *, verified: bool) -> None:
    """An account as a sign-up leaves it (the password hash is never checked here)."""
    with psycopg.connect(libpq_conninfo(database_url)) as connection:
        connection.execute(
            "INSERT INTO users (id, email, password_hash, display_name, role, email_verified)"
            " VALUES (%s, %s, '$argon2id$signed-up', 'Someone', 'participant', %s)",
            (uuid.uuid4(), email, verified),
        )


def test_create_admin_creates_then_promotes_only_with_a_new_password(database_url: str) -> None:
    created = _create_admin(database_url, "Root@Example.org", "a long admin passphrase")
    assert created.returncode == 0, created.stderr
    assert "created admin root@example.org" in created.stdout
    role, verified, first_hash = _account(database_url, "root@example.org")  # type: ignore[misc]
    assert (role, verified) == ("admin", True)
    assert first_hash.startswith("$argon2id$")

    # Run again (the module form) without a password: an existing account keeps no password the
    # operator did not set, so the command asks for one and changes nothing.
    again = _run(
        [sys.executable, "-m", "services.cli", "create-admin", "--email", "root@example.org"], database_url
    )
    assert again.returncode == 1
    assert "--password" in again.stderr
    assert "SEATMESH_ADMIN_PASSWORD" in again.stderr
    assert _account(database_url, "root@example.org") == ("admin", True, first_hash)

    # A verified account is promoted with the password the operator gives (here from the environment).
    _insert_account(database_url, "owner@example.org", verified=True)
    promoted = _run(
        [str(SEATMESH), "create-admin", "--email", "owner@example.org"],
        database_url,
        SEATMESH_ADMIN_PASSWORD="the operator's own passphrase",
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "promoted admin owner@example.org" in promoted.stdout
    role, verified, new_hash = _account(database_url, "owner@example.org")  # type: ignore[misc]
    assert (role, verified) == ("admin", True)
    assert new_hash.startswith("$argon2id$v=")


def test_create_admin_refuses_an_account_whose_address_was_never_verified(database_url: str) -> None:
    assert _create_admin(database_url, "first@example.org", "a long admin passphrase").returncode == 0
    # Whoever registered this address never proved they own it: it may not be the operator.
    _insert_account(database_url, "admin@example.org", verified=False)
    refused = _create_admin(database_url, "admin@example.org", "a long admin passphrase")
    assert refused.returncode == 1
    assert "never verified" in refused.stderr
    assert _account(database_url, "admin@example.org") == ("participant", False, "$argon2id$signed-up")


def test_create_admin_refuses_weak_passwords_and_unknown_accounts_without_one(database_url: str) -> None:
    weak = _run(
        [str(SEATMESH), "create-admin", "--email", "a@example.org", "--password", "admin"], database_url
    )
    assert weak.returncode == 1
    assert "--password must be at least 10 characters" in weak.stderr
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        _account(database_url, "a@example.org")  # a typo touches nothing, not even the database
    missing = _run([str(SEATMESH), "create-admin", "--email", "b@example.org"], database_url)
    assert missing.returncode == 1
    assert "give --password" in missing.stderr
    assert _account(database_url, "a@example.org") is None


def test_create_admin_names_a_missing_database_url() -> None:
    result = subprocess.run(
        [str(SEATMESH), "create-admin", "--email", "a@example.org"],
        env={key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SEATMESH_DATABASE_URL" in result.stderr
