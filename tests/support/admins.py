"""An admin for end-to-end tests, made the only way there is: `seatmesh create-admin` on the users
service's database, then signed in through the edge like anyone else."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from scripts.mesh import Mesh
from tests.support.accounts import PASSWORD, Account


def create_admin(rest: httpx.Client, mesh: Mesh, *, display_name: str = "Test Admin") -> Account:
    address = f"admin-{uuid.uuid4().hex[:12]}@example.com"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    environment["SEATMESH_DATABASE_URL"] = mesh.service_database_url("users")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "seatmesh"),
            "create-admin",
            "--email",
            address,
            "--display-name",
            display_name,
            "--password",
            PASSWORD,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    response = rest.post("/v1/auth:login", json={"email": address, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens = response.json()
    me = rest.get("/v1/users/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    assert me.status_code == 200, me.text
    return Account(me.json()["id"], address, PASSWORD, tokens["accessToken"], tokens["refreshToken"])
