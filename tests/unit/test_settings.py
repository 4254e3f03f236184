"""Configuration fails fast and names the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.events.settings import EventsSettings
from services.runtime.settings import load_settings


def test_a_malformed_value_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEATMESH_DATABASE_URL", "postgresql://localhost/x")
    monkeypatch.setenv("SEATMESH_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        load_settings(EventsSettings)
    assert exited.value.code == 2
    assert "SEATMESH_PORT" in capsys.readouterr().err


def test_a_missing_required_value_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SEATMESH_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit):
        load_settings(EventsSettings)
    assert "SEATMESH_DATABASE_URL" in capsys.readouterr().err


@pytest.mark.parametrize("service", ["users", "events", "bookings", "notifications", "payments"])
def test_a_service_started_with_a_bad_value_exits_non_zero_naming_it(service: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEATMESH_")}
    env.update(SEATMESH_DATABASE_URL="postgresql://127.0.0.1:1/nowhere", SEATMESH_WORKERS="lots")
    finished = subprocess.run(
        [sys.executable, "-m", f"services.{service}"], env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode != 0
    assert "SEATMESH_WORKERS" in finished.stderr


@pytest.mark.parametrize(("secret", "why"), [("", "is not set"), ("too-short-secret", "is 16 bytes long")])
def test_every_service_refuses_to_start_without_a_long_service_secret(secret: str, why: str) -> None:
    from services.events.settings import EventsSettings
    from services.runtime.app import Runtime

    settings = EventsSettings(database_url="postgresql://nobody@127.0.0.1:1/never", service_secret=secret)
    with pytest.raises(SystemExit, match=f"SEATMESH_SERVICE_SECRET {why}"):
        Runtime.create(settings, "events")
