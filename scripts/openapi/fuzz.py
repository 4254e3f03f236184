"""A schema-driven fuzz of every REST operation through the real edge (what `scripts/fuzz` runs).

Schemathesis generates requests from gen/openapi.json as the edge serves it and checks every answer:
no server error, a status and content type the spec lists, a body that matches the schema, and an
ErrorInfo reason the spec lists for that operation (hooks.py). It runs once per identity, each a
real sign-in: a participant, an organizer and an admin (made with `seatmesh create-admin`), so the
role-gated operations are reached too.

It starts its own mesh (embedded PostgreSQL and Redis in a temporary directory, or DATABASE_URL /
REDIS_URL under a run prefix that is dropped afterwards): fuzzing creates accounts, events and
announcements to every user, which belong in no one's data.

    scripts/fuzz                      # several thousand cases per identity
    scripts/fuzz --max-examples 20    # a quick pass
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.mesh import ROOT, Mesh, MeshOptions
from services.runtime.migrations import drop_databases
from services.runtime.redis import delete_keys

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "error_reasons_conform",
]
PASSWORD = "fuzz correct horse battery"
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Identity:
    role: str
    email: str
    refresh_token: str


def verification_code(mail_dir: Path, address: str, newer_than: float, timeout: float = 30.0) -> str:
    """The code of the newest verification email to `address` the SMTP sink stored."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for path in mail_dir.glob("*.eml"):
            if path.stat().st_mtime < newer_than:
                continue
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address not in str(message.get("To", "")).lower():
                continue
            body = message.get_body(preferencelist=("plain",))
            code = _CODE.search(f"{message.get('Subject', '')}\n{body.get_content() if body else ''}")
            if code:
                found.append((path.stat().st_mtime, code[1]))
        if found:
            return max(found)[1]
        time.sleep(0.1)
    raise RuntimeError(f"no verification email to {address} in {mail_dir}")


def _login(rest: httpx.Client, address: str) -> str:
    response = rest.post("/v1/auth:login", json={"email": address, "password": PASSWORD})
    response.raise_for_status()
    return str(response.json()["refreshToken"])


def sign_up(rest: httpx.Client, mail_dir: Path, role: str) -> Identity:
    """A person signs up the way the README shows: register, the emailed code, sign in."""
    address = f"fuzz-{role}-{uuid.uuid4().hex[:10]}@example.com"
    started = time.time() - 1
    response = rest.post(
        "/v1/users:register",
        json={
            "email": address,
            "password": PASSWORD,
            "displayName": f"Fuzz {role}",
            "role": f"ROLE_{role.upper()}",
        },
    )
    response.raise_for_status()
    code = verification_code(mail_dir, address, started)
    rest.post("/v1/users:verifyEmail", json={"email": address, "code": code}).raise_for_status()
    return Identity(role, address, _login(rest, address))


def create_admin(rest: httpx.Client, users_database_url: str) -> Identity:
    """An admin the only way there is: the CLI, on the users service's database."""
    address = f"fuzz-admin-{uuid.uuid4().hex[:10]}@example.com"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    environment["SEATMESH_DATABASE_URL"] = users_database_url
    subprocess.run(
        [
            str(Path(sys.executable).parent / "seatmesh"),
            "create-admin",
            "--email",
            address,
            "--password",
            PASSWORD,
        ],
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Identity("admin", address, _login(rest, address))


def identities(mesh: Mesh) -> list[Identity]:
    """A participant, an organizer and an admin of `mesh`, each signed in."""
    with httpx.Client(base_url=mesh.rest_url, timeout=10) as rest:
        return [
            sign_up(rest, mesh.var / "mail", "participant"),
            sign_up(rest, mesh.var / "mail", "organizer"),
            create_admin(rest, mesh.service_database_url("users")),
        ]


def run_schemathesis(
    url: str,
    identity: Identity,
    *,
    max_examples: int,
    seed: int,
    workers: int,
    max_time: float | None = None,
    extra: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """One schemathesis run against the edge at `url` as `identity`; its output is in the result."""
    environment = dict(os.environ)
    environment.update(
        SCHEMATHESIS_HOOKS="scripts.openapi.hooks",
        SEATMESH_FUZZ_URL=url,
        SEATMESH_FUZZ_REFRESH_TOKEN=identity.refresh_token,
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "gen"), environment.get("PYTHONPATH", "")]),
    )
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{url}/openapi.json",
        "--url",
        url,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--no-color",
        "--warnings",
        "off",
        *(["--max-time", str(max_time)] if max_time else []),
        *(extra or []),
    ]
    return subprocess.run(command, env=environment, capture_output=True, text=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--max-examples", type=int, default=100, help="cases per operation and phase (default 100)"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()), help="repeat a run with its seed")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers (threads)")
    parser.add_argument(
        "--role", choices=["participant", "organizer", "admin"], action="append", help="only these identities"
    )
    args = parser.parse_args()
    run_prefix = f"fuzz{uuid.uuid4().hex[:6]}"
    database_url, redis_url = os.environ.get("DATABASE_URL") or None, os.environ.get("REDIS_URL") or None
    failed = []
    with tempfile.TemporaryDirectory(prefix="seatmesh-fuzz-") as var:
        mesh = Mesh(
            MeshOptions(
                var_dir=Path(var),
                database_url=database_url,
                redis_url=redis_url,
                database_prefix=run_prefix,
                redis_prefix=f"{run_prefix}:",
                free_ports=True,
                env={"SEATMESH_LOG_LEVEL": "WARNING"},
            )
        )
        try:
            print("starting a mesh for the fuzz ...", flush=True)
            mesh.start(timeout=120)
            for identity in identities(mesh):
                if args.role and identity.role not in args.role:
                    continue
                print(f"\n== as {identity.role} (seed {args.seed}) ==", flush=True)
                result = run_schemathesis(
                    mesh.rest_url,
                    identity,
                    max_examples=args.max_examples,
                    seed=args.seed,
                    workers=args.workers,
                    extra=["--continue-on-failure"],
                )
                print(result.stdout, result.stderr, sep="\n", flush=True)
                if result.returncode != 0:
                    failed.append(identity.role)
        finally:
            mesh.stop()
            # On servers we were given, leave nothing behind (embedded ones go with the directory).
            if database_url:
                drop_databases(database_url, f"{run_prefix}_")
            if redis_url:
                delete_keys(redis_url, f"{run_prefix}:")
    if failed:
        print(f"\nthe fuzz found problems as: {', '.join(failed)} (seed {args.seed})")
        raise SystemExit(1)
    print(f"\nno problem found (seed {args.seed})")


if __name__ == "__main__":
    main()
