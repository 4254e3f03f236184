"""The deployment descriptions stay valid and in sync with their single sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import compose
import pytest

from scripts.envoy_config import COMPOSE_OUTPUT, compose_config, render

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_config_is_valid() -> None:
    binary = Path(compose.__file__).parent / "docker-compose"
    env = dict(os.environ, SEATMESH_SERVICE_SECRET="test-secret", SEATMESH_EDGE_SECRET="test-edge-secret")
    finished = subprocess.run(
        [str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize("missing", ["SEATMESH_SERVICE_SECRET", "SEATMESH_EDGE_SECRET"])
def test_compose_refuses_to_run_without_a_secret(missing: str) -> None:
    binary = Path(compose.__file__).parent / "docker-compose"
    env = dict(os.environ, SEATMESH_SERVICE_SECRET="test-secret", SEATMESH_EDGE_SECRET="test-edge-secret")
    del env[missing]
    finished = subprocess.run(
        [str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert missing in finished.stderr


def test_envoy_compose_config_is_rendered_from_the_template() -> None:
    assert COMPOSE_OUTPUT.read_text() == render(compose_config()), (
        "envoy/envoy.compose.yaml is stale: run `python -m scripts.envoy_config --compose`"
    )


def test_envoy_accepts_the_local_config(tmp_path: Path) -> None:
    from scripts.envoy_config import SERVICES, EdgeConfig

    config = tmp_path / "envoy.yaml"
    config.write_text(render(EdgeConfig(endpoints={name: [("127.0.0.1", 1)] for name in SERVICES})))
    envoy = Path(sys.executable).parent / "envoy"
    finished = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config)], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
