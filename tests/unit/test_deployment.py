"""The deployment descriptions stay valid and in sync with their single sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import compose

from scripts.envoy_config import COMPOSE_OUTPUT, compose_config, render

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_config_is_valid() -> None:
    binary = Path(compose.__file__).parent / "docker-compose"
    env = dict(os.environ, SEATMESH_SERVICE_SECRET="test-secret")
    finished = subprocess.run(
        [str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr


def test_compose_refuses_to_run_without_the_service_secret() -> None:
    binary = Path(compose.__file__).parent / "docker-compose"
    env = {key: value for key, value in os.environ.items() if key != "SEATMESH_SERVICE_SECRET"}
    finished = subprocess.run(
        [str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "SEATMESH_SERVICE_SECRET" in finished.stderr


def test_envoy_compose_config_is_rendered_from_the_template() -> None:
    assert COMPOSE_OUTPUT.read_text() == render(compose_config()), (
        "envoy/envoy.compose.yaml is stale: run `python -m scripts.envoy_config --compose`"
    )


def test_envoy_accepts_the_local_config(tmp_path: Path) -> None:
    from scripts.envoy_config import EdgeConfig

    config = tmp_path / "envoy.yaml"
    config.write_text(
        render(
            EdgeConfig(
                endpoints={
                    name: [("127.0.0.1", 1)] for name in ["users", "events", "bookings", "notifications"]
                }
            )
        )
    )
    envoy = Path(sys.executable).parent / "envoy"
    finished = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config)], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
