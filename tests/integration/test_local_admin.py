"""`make run` keeps an admin for the person at the machine: created once, password kept privately."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg

from scripts.mesh import LOCAL_ADMIN_EMAIL, Mesh, MeshOptions
from services.runtime.migrations import libpq_conninfo
from tests.support.engines import Engines


def test_the_local_admin_is_created_once_with_a_private_password(engines: Engines, tmp_path: Path) -> None:
    mesh = Mesh(
        MeshOptions(
            var_dir=tmp_path,
            database_url=engines.server_url,
            database_prefix=f"{engines.database_prefix}_local",
        )
    )
    mesh.database_url = engines.server_url
    password = mesh.ensure_local_admin()
    kept = tmp_path / "admin-password"
    assert kept.read_text() == password
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert password in (tmp_path / "mail" / "local-admin.eml").read_text()
    with psycopg.connect(libpq_conninfo(mesh.service_database_url("users"))) as connection:
        row = connection.execute(
            "SELECT role, email_verified FROM users WHERE email = %s", (LOCAL_ADMIN_EMAIL,)
        ).fetchone()
    assert row == ("admin", True)
    # A second start keeps the account and its password.
    assert mesh.ensure_local_admin() == password
