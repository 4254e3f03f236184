"""Starts the whole mesh on one machine: what `make run` runs and what the e2e tests start.

With DATABASE_URL / REDIS_URL unset it starts an embedded PostgreSQL and Redis under var/ (reused
by the next start); with them set it uses those servers. Then an SMTP sink, the fake Stripe when
payments use it (SEATMESH_PAYMENTS_PROVIDER=stripe without SEATMESH_STRIPE_API_BASE), the five
services (each migrates its own database), and Envoy; it waits until every service is healthy
through Envoy, prints the addresses, and on Ctrl-C stops every process it started, by PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from scripts.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, wait_for_port
from scripts.envoy_config import SERVICES, EdgeConfig, render

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {
    "users": 50051,
    "events": 50052,
    "bookings": 50053,
    "notifications": 50054,
    "payments": 50055,
}
# Each service's Prometheus endpoint (/metrics), in the order of SERVICES; Envoy's stats are on its
# admin port (/stats/prometheus).
FIRST_METRICS_PORT = 9464
# The local mailbox's port (scripts/mailbox.py: the SMTP sink's mail in a browser; make run only).
DEFAULT_MAILBOX_PORT = 8025
# The admin `make run` creates on its first start, so the admin pages work from the browser too.
LOCAL_ADMIN_EMAIL = "admin@seatmesh.localhost"
# The fake Stripe's port (scripts/fake_stripe.py), started when the payments provider is stripe and
# no SEATMESH_STRIPE_API_BASE names a real one.
DEFAULT_STRIPE_PORT = 12111


def database_url_for(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@dataclass
class MeshOptions:
    var_dir: Path = ROOT / "var"
    # A PostgreSQL server (any database on it); each service gets <database_prefix>_<service>.
    database_url: str | None = None
    redis_url: str | None = None
    database_prefix: str = "seatmesh"
    redis_prefix: str = "seatmesh:"
    edge_port: int = 8080
    admin_port: int = 9901
    smtp_port: int = 2525
    stripe_port: int = DEFAULT_STRIPE_PORT
    # None: the fixed defaults (50051...); "free": any free ports (tests).
    free_ports: bool = False
    workers: int = 1
    envoy_concurrency: int = 2
    # Extra SEATMESH_* settings for every service.
    env: dict[str, str] = field(default_factory=dict)
    # Write service output to var/log/<service>.log instead of this terminal.
    log_to_files: bool = True
    smtp_sink: bool = True
    # Let the SMTP sink print one line per message on this terminal (make run).
    announce_mail: bool = False
    # Serve the kept mail in a browser at this port (make run; 0: no mailbox).
    mailbox_port: int = 0


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes] | None = None


class Mesh:
    def __init__(self, options: MeshOptions) -> None:
        self.options = options
        self.var = options.var_dir
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.processes: dict[str, Process] = {}
        self.ports: dict[str, int] = {}
        self.database_url = options.database_url or ""
        self.redis_url = options.redis_url or ""
        self.edge_port = options.edge_port
        self.admin_port = options.admin_port
        self.smtp_port = options.smtp_port
        self.stripe_port = options.stripe_port
        self.service_env: dict[str, str] = {}
        self.metrics_ports: dict[str, int] = {}
        # Set when this mesh runs the fake Stripe.
        self.fake_stripe_url: str | None = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def edge(self) -> str:
        return f"127.0.0.1:{self.edge_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.edge}"

    def service_address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def service_database_url(self, name: str) -> str:
        return database_url_for(self.database_url, f"{self.options.database_prefix}_{name}")

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        try:
            self._start_engines()
            self._choose_ports()
            self.service_env = self._service_env()
            if self.options.smtp_sink:
                self._start_smtp_sink()
                if self.options.mailbox_port:
                    self._start_mailbox()
            if self.fake_stripe_url is not None:
                self._start_fake_stripe()
            for name in SERVICES:
                self.start_service(name)
            self._start_envoy()
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _start_engines(self) -> None:
        if not self.database_url:
            self.postgres = EmbeddedPostgres.start(self.var / "postgres")
            self.database_url = self.postgres.url
        if not self.redis_url:
            self.redis = EmbeddedRedis.start(self.var / "redis")
            self.redis_url = self.redis.url

    def _choose_ports(self) -> None:
        if self.options.free_ports:
            self.ports = {name: free_port() for name in SERVICES}
            self.edge_port, self.admin_port, self.smtp_port = free_port(), free_port(), free_port()
            self.stripe_port = free_port()
            self.metrics_ports = {name: free_port() for name in SERVICES}
        else:
            self.ports = dict(DEFAULT_PORTS)
            self.metrics_ports = {name: FIRST_METRICS_PORT + index for index, name in enumerate(SERVICES)}

    def _secret(self, name: str = "service-secret") -> str:
        """A random secret kept in var/<name> (SEATMESH_SERVICE_SECRET, SEATMESH_EDGE_SECRET)."""
        path = self.var / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created with its final mode: never readable by others, not even for a moment.
            with contextlib.suppress(FileExistsError):
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as file:
                    file.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def _service_env(self) -> dict[str, str]:
        env = {
            "SEATMESH_HOST": "127.0.0.1",
            "SEATMESH_REDIS_URL": self.redis_url,
            "SEATMESH_REDIS_PREFIX": self.options.redis_prefix,
            "SEATMESH_SERVICE_SECRET": self._secret(),
            "SEATMESH_EDGE_SECRET": self._secret("edge-secret"),
            "SEATMESH_KEY_DIR": str(self.var / "keys"),
            "SEATMESH_PUBLIC_URL": self.rest_url,
            "SEATMESH_SMTP_HOST": "127.0.0.1",
            "SEATMESH_SMTP_PORT": str(self.smtp_port),
            "SEATMESH_WORKERS": str(self.options.workers),
            **{f"SEATMESH_{name.upper()}_ADDRESS": f"127.0.0.1:{port}" for name, port in self.ports.items()},
        }
        env.update(self.options.env)
        if env.get("SEATMESH_PAYMENTS_PROVIDER") == "stripe" and not env.get("SEATMESH_STRIPE_API_BASE"):
            # No Stripe account named: the local fake, with a key and signing secret of its own.
            self.fake_stripe_url = f"http://127.0.0.1:{self.stripe_port}"
            env["SEATMESH_STRIPE_API_BASE"] = self.fake_stripe_url
            env.setdefault("SEATMESH_STRIPE_API_KEY", "sk_test_seatmesh_local")
            env.setdefault("SEATMESH_STRIPE_WEBHOOK_SECRET", "whsec_" + self._secret("stripe-webhook-secret"))
        return env

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str], *, to_terminal: bool = False
    ) -> Process:
        log_file: IO[bytes] | None = None
        stdout: int | IO[bytes] | None = None
        if self.options.log_to_files and not to_terminal:
            (self.var / "log").mkdir(parents=True, exist_ok=True)
            log_file = open(self.var / "log" / f"{name}.log", "ab")  # noqa: SIM115 (closed in _reap)
            stdout = log_file
        popen = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
        )
        process = Process(name, popen, log_file)
        self.processes[name] = process
        return process

    def _start_smtp_sink(self) -> None:
        self._spawn(
            "smtp-sink",
            [
                sys.executable,
                "-m",
                "scripts.smtp_sink",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.var / "mail"),
            ],
            dict(os.environ),
            to_terminal=self.options.announce_mail,
        )

    def _start_mailbox(self) -> None:
        self._spawn(
            "mailbox",
            [
                sys.executable,
                "-m",
                "scripts.mailbox",
                "--port",
                str(self.options.mailbox_port),
                "--dir",
                str(self.var / "mail"),
            ],
            dict(os.environ),
        )

    def ensure_local_admin(self) -> str:
        """The admin `make run` keeps for the person at this machine: created on the first start with
        a random password (var/admin-password, readable by this user only), which also lands in the
        local mailbox as a note. Returns the password. Never in tests or deployments: only make run
        calls it."""
        path = self.var / "admin-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(18)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "create-admin",
                "--email",
                LOCAL_ADMIN_EMAIL,
                "--display-name",
                "Local admin",
            ],
            env={
                **os.environ,
                "SEATMESH_DATABASE_URL": self.service_database_url("users"),
                "SEATMESH_ADMIN_PASSWORD": password,
            },
            check=True,
            capture_output=True,
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(password)
        note = (
            f"From: seatmesh (make run) <no-reply@seatmesh.localhost>\r\nTo: {LOCAL_ADMIN_EMAIL}\r\n"
            "Subject: Your local admin account\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"make run created an admin for this machine:\r\n\r\n  email     {LOCAL_ADMIN_EMAIL}\r\n"
            f"  password  {password}\r\n\r\nSign in at {self.rest_url}/ to manage users, events,"
            " payments and deliveries.\r\nThe password is also in var/admin-password.\r\n"
        )
        (self.var / "mail").mkdir(parents=True, exist_ok=True)
        (self.var / "mail" / "local-admin.eml").write_text(note)
        return password

    def _start_fake_stripe(self) -> None:
        self._spawn(
            "fake-stripe",
            [
                sys.executable,
                "-m",
                "scripts.fake_stripe",
                "--port",
                str(self.stripe_port),
                "--webhook-url",
                f"{self.rest_url}/v1/payments/webhooks/stripe",
                "--webhook-secret",
                self.service_env["SEATMESH_STRIPE_WEBHOOK_SECRET"],
            ],
            dict(os.environ),
        )

    def start_service(self, name: str) -> None:
        env = dict(os.environ)
        env.update(self.service_env)
        env["SEATMESH_PORT"] = str(self.ports[name])
        env["SEATMESH_METRICS_PORT"] = str(self.metrics_ports[name])
        env["SEATMESH_DATABASE_URL"] = self.service_database_url(name)
        self._spawn(name, [sys.executable, "-m", f"services.{name}"], env)

    def _start_envoy(self) -> None:
        config = EdgeConfig(
            listen_port=self.edge_port,
            admin_port=self.admin_port,
            endpoints={name: [("127.0.0.1", port)] for name, port in self.ports.items()},
            jwt_issuer=self.service_env.get("SEATMESH_JWT_ISSUER", "seatmesh"),
            jwt_audience=self.service_env.get("SEATMESH_JWT_AUDIENCE", "seatmesh"),
            health_interval="0.5s",
            # The edge traces as the services do.
            otlp_endpoint=self.service_env.get("SEATMESH_OTLP_ENDPOINT", ""),
            trace_sample_ratio=float(self.service_env.get("SEATMESH_TRACE_SAMPLE_RATIO", "1")),
        )
        path = self.var / f"envoy-{self.edge_port}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(config))
        envoy = Path(sys.executable).parent / "envoy"
        self._spawn(
            "envoy",
            [
                str(envoy),
                "-c",
                str(path),
                "--concurrency",
                str(self.options.envoy_concurrency),
                "--disable-hot-restart",
                "--log-level",
                "warning",
            ],
            # Envoy presents the edge secret to the services (x-seatmesh-edge).
            dict(os.environ, SEATMESH_EDGE_SECRET=self.service_env["SEATMESH_EDGE_SECRET"]),
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every service SERVING as seen through Envoy (so its routes work too)."""
        deadline = time.monotonic() + timeout
        wait_for_port("127.0.0.1", self.edge_port, timeout=timeout)
        with grpc.insecure_channel(self.edge) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name, full_name in SERVICES.items():
                while True:
                    self._check_alive()
                    try:
                        reply = stub.Check(health_pb2.HealthCheckRequest(service=full_name), timeout=1)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    except grpc.RpcError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{name} is not healthy through Envoy after {timeout:.0f}s{self._log_hint(name)}"
                        )
                    time.sleep(0.1)

    def _log_hint(self, name: str) -> str:
        return f"; see {self.var / 'log' / (name + '.log')}" if self.options.log_to_files else ""

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            code = process.popen.poll()
            if code is not None:
                raise RuntimeError(f"{name} exited with code {code}{self._log_hint(name)}")

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop a process we started, by its PID, and any worker processes it started."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            children = psutil.Process(process.popen.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if process.popen.poll() is None:
            process.popen.send_signal(sig)
            try:
                process.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        # Workers stop with their parent; whatever is left after the grace period is killed.
        _, alive = psutil.wait_procs(children, timeout=timeout if sig != signal.SIGKILL else 0)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(sig if sig == signal.SIGKILL else signal.SIGKILL)
        if process.log is not None:
            process.log.close()

    def kill_service(self, name: str) -> None:
        self.stop_service(name, signal.SIGKILL)

    def stop(self) -> None:
        # Edge first (no new traffic), then services, then what they depend on.
        for name in ["envoy", *reversed(list(SERVICES)), "smtp-sink", "mailbox", "fake-stripe"]:
            with contextlib.suppress(Exception):
                self.stop_service(name)
        for name in list(self.processes):
            with contextlib.suppress(Exception):
                self.stop_service(name)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def describe(self) -> dict[str, object]:
        return {
            "rest": self.rest_url,
            "grpc": self.edge,
            "envoy_admin": f"http://127.0.0.1:{self.admin_port}",
            "services": {name: self.service_address(name) for name in SERVICES},
            "metrics": {
                **{name: f"http://127.0.0.1:{port}/metrics" for name, port in self.metrics_ports.items()},
                "envoy": f"http://127.0.0.1:{self.admin_port}/stats/prometheus",
            },
            "tracing": self.service_env.get("SEATMESH_OTLP_ENDPOINT") or None,
            "smtp_sink": f"127.0.0.1:{self.smtp_port}" if self.options.smtp_sink else None,
            "fake_stripe": self.fake_stripe_url,
            "mail_dir": str(self.var / "mail"),
            "logs": str(self.var / "log"),
            "database": "embedded PostgreSQL under var/postgres" if self.postgres else "DATABASE_URL",
            "redis": "embedded Redis under var/redis" if self.redis else "REDIS_URL",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("SEATMESH_EDGE_PORT", "8080")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SEATMESH_WORKERS", "1")))
    parser.add_argument("--envoy-concurrency", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the addresses as JSON once healthy")
    args = parser.parse_args()
    options = MeshOptions(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        edge_port=args.port,
        workers=args.workers,
        envoy_concurrency=args.envoy_concurrency,
        announce_mail=True,
        mailbox_port=DEFAULT_MAILBOX_PORT,
        env={
            key: value
            for key, value in os.environ.items()
            if key.startswith("SEATMESH_") and key != "SEATMESH_WORKERS"
        },
    )
    mesh = Mesh(options)
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Both explicitly: a launcher started in the background inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        print("starting seatmesh ...", flush=True)
        mesh.start()
        admin_password = mesh.ensure_local_admin()
        info = mesh.describe()
        services = ", ".join(f"{name} {address}" for name, address in mesh.ports.items())
        metrics = ", ".join(f"{port} ({name})" for name, port in mesh.metrics_ports.items())
        payments = (
            f"stripe, with the fake Stripe at {mesh.fake_stripe_url} (its checkout pages have Pay/Fail)"
            if mesh.fake_stripe_url
            else os.environ.get("SEATMESH_PAYMENTS_PROVIDER", "manual")
        )
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(
                f"""
seatmesh is up.
  console   {info["rest"]}/   (open it in a browser; admin {LOCAL_ADMIN_EMAIL} / {admin_password})
  mailbox   http://127.0.0.1:{DEFAULT_MAILBOX_PORT}/   (every email make run sent, codes included)
  API docs  {info["rest"]}/docs   (Swagger UI; the spec at {info["rest"]}/openapi.json)
  REST      {info["rest"]}   (try: curl {info["rest"]}/v1/events)
  gRPC      {info["grpc"]}   (try: grpcurl -plaintext {info["grpc"]} list)
  Envoy     {info["envoy_admin"]}  (admin, loopback only)
  services  {services}
  metrics   http://127.0.0.1:PORT/metrics with PORT {metrics}; Envoy {info["envoy_admin"]}/stats/prometheus
  traces    {info["tracing"] or "off (SEATMESH_OTLP_ENDPOINT=http://HOST:4317 sends them to a collector)"}
  mail      every email (verification codes too) lands in {info["mail_dir"]} and is announced below
  payments  {payments}
  logs      {info["logs"]}/<service>.log
  data      {info["database"]}; {info["redis"]}
Ctrl-C stops everything.""",
                flush=True,
            )
        while True:
            mesh._check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        mesh.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
