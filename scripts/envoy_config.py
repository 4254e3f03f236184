"""Renders envoy/envoy.yaml.j2, the one source of the edge's configuration.

`python -m scripts.envoy_config --compose` writes envoy/envoy.compose.yaml (docker-compose's copy)
and `--kubernetes` writes deploy/kubernetes/base/envoy.yaml (what kustomize's configMapGenerator
mounts into the Envoy pods); both are kept in git and checked by the tests. The mesh launcher
renders a local copy on every start.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import jinja2
import swagger_ui_bundle

from services.runtime.tracing import OtlpEndpoint

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
COMPOSE_OUTPUT = ROOT / "envoy" / "envoy.compose.yaml"
KUBERNETES_OUTPUT = ROOT / "deploy" / "kubernetes" / "base" / "envoy.yaml"
DESCRIPTOR = ROOT / "gen" / "seatmesh.pb"
# Where containers serve Envoy's stats to Prometheus (EdgeConfig.stats_port).
STATS_PORT = 9902

# Swagger UI comes from the pinned swagger-ui-bundle-v2 wheel (requirements.txt), wherever pip put it:
# this machine's site-packages for local runs, the image's (Dockerfile: python:3.11-slim) in containers.
SWAGGER_UI = Path(str(swagger_ui_bundle.swagger_ui_path))
SITE_PACKAGES = SWAGGER_UI.parents[2]
IMAGE_ROOT = "/app"
IMAGE_SITE_PACKAGES = "/usr/local/lib/python3.11/site-packages"

SERVICES = {
    "users": "seatmesh.users.v1.UserService",
    "events": "seatmesh.events.v1.EventService",
    "bookings": "seatmesh.bookings.v1.BookingService",
    "notifications": "seatmesh.notifications.v1.NotificationService",
    "payments": "seatmesh.payments.v1.PaymentService",
}

# REST path prefixes -> the cluster that owns them.
REST_PREFIXES = [
    ("/v1/users", "users"),
    ("/v1/auth", "users"),
    ("/.well-known/", "users"),
    ("/v1/events", "events"),
    ("/v1/tags", "events"),
    ("/v1/bookings", "bookings"),
    ("/v1/notifications", "notifications"),
    ("/v1/payments", "payments"),
]

# RPCs only services may call; the edge answers 403 (PERMISSION_DENIED) for them.
INTERNAL_METHODS = [
    "/seatmesh.users.v1.UserService/IssueServiceToken",
    "/seatmesh.users.v1.UserService/BatchGetUsers",
    "/seatmesh.events.v1.EventService/ReserveSeats",
    "/seatmesh.events.v1.EventService/ReleaseSeats",
    "/seatmesh.events.v1.EventService/BatchGetEvents",
    "/seatmesh.payments.v1.PaymentService/OpenCheckout",
]

_ANONYMOUS_GRPC = [
    "/seatmesh.users.v1.UserService/RegisterUser",
    "/seatmesh.users.v1.UserService/VerifyEmail",
    "/seatmesh.users.v1.UserService/ResendVerification",
    "/seatmesh.users.v1.UserService/Login",
    "/seatmesh.users.v1.UserService/RefreshToken",
    "/seatmesh.users.v1.UserService/GetJwks",
    "/seatmesh.users.v1.UserService/GetUser",
    "/seatmesh.events.v1.EventService/GetEvent",
    "/seatmesh.events.v1.EventService/ListEvents",
    "/seatmesh.events.v1.EventService/ListTags",
    "/seatmesh.events.v1.EventService/ListReviews",
    "/seatmesh.events.v1.EventService/WatchAvailability",
    # Stripe calls it without a token: the Stripe-Signature header authenticates it.
    "/seatmesh.payments.v1.PaymentService/ReceiveStripeWebhook",
]

_GET = "headers: [{ name: ':method', string_match: { exact: GET } }]"

# jwt_authn rules where a token is optional (but checked when present); first match wins. Then
# every path of the API needs a valid token; paths outside it get a plain 404 from the router.
ANONYMOUS_MATCHES = [
    *[
        f"{{ path: '{path}' }}"
        for path in [
            "/v1/users:register",
            "/v1/users:verifyEmail",
            "/v1/users:resendVerification",
            "/v1/auth:login",
            "/v1/auth:refresh",
            "/.well-known/jwks.json",
            "/v1/payments/webhooks/stripe",
        ]
    ],
    f"{{ prefix: /v1/events, {_GET} }}",
    f"{{ prefix: /v1/tags, {_GET} }}",
    f"{{ safe_regex: {{ regex: '^/v1/users/[^/:]+$' }}, {_GET} }}",
    *[f"{{ path: '{path}' }}" for path in _ANONYMOUS_GRPC],
    "{ prefix: /grpc.health.v1.Health/ }",
    "{ prefix: /grpc.reflection. }",
]

# HTTP status of an edge reply -> google.rpc.Code and ErrorInfo.reason in its JSON body.
LOCAL_REPLY_CODES = [
    (400, 3, "BAD_REQUEST"),
    (401, 16, "UNAUTHENTICATED"),
    (403, 7, "PERMISSION_DENIED"),
    (404, 5, "NOT_FOUND"),
    (413, 8, "PAYLOAD_TOO_LARGE"),
    (431, 3, "HEADERS_TOO_LARGE"),
    (429, 8, "RATE_LIMITED"),
    (500, 13, "INTERNAL"),
    (502, 14, "BAD_GATEWAY"),
    (503, 14, "UNAVAILABLE"),
    (504, 4, "DEADLINE_EXCEEDED"),
]


@dataclass(frozen=True)
class StaticFile:
    """A file the edge answers itself, on the one port and without a token: a `direct_response`
    route for GET/HEAD of exactly `path` (no upstream, no transcoding), with `content_type`.

    `file` is relative to the repository root, or to site-packages when `packaged` (assets of a
    pinned wheel), so one entry resolves both on this machine and inside the image. `immutable` is
    for paths that change whenever the content does (a version or content hash in the path):
    browsers keep those for a year; anything else is fetched again on every load. Envoy reads every
    file when it loads its configuration: a changed file needs an Envoy restart.

    To serve more files (a web console's build, say), append entries to STATIC_FILES; a catch-all
    route (an SPA's index.html) would go after the REST routes in the template.
    """

    path: str
    file: str
    content_type: str
    packaged: bool = False
    immutable: bool = False

    def location(self, root: str, site_packages: str) -> str:
        return f"{site_packages if self.packaged else root}/{self.file}"


_SWAGGER_UI_FILES = f"swagger_ui_bundle/vendor/{SWAGGER_UI.name}"

STATIC_FILES = [
    # The REST contract (scripts/openapi, generated by scripts/gen) and Swagger UI showing it.
    StaticFile("/openapi.json", "gen/openapi.json", "application/json"),
    StaticFile("/docs", "envoy/docs.html", "text/html; charset=utf-8"),
    *[
        StaticFile(
            f"/docs/{SWAGGER_UI.name}/{name}",
            f"{_SWAGGER_UI_FILES}/{name}",
            content_type,
            packaged=True,
            immutable=True,
        )
        for name, content_type in [
            ("swagger-ui.css", "text/css; charset=utf-8"),
            ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
            ("favicon-32x32.png", "image/png"),
        ]
    ],
]

# The web console (web/, built into web/dist and committed like gen/): index.html at / (and, by
# the template's fallback route, at every other page path), the rest at their own paths. Names
# under assets/ carry a content hash, so browsers may keep them for good.
CONSOLE_DIST = "web/dist"
CONSOLE_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
# Paths the console's fallback leaves alone: the API's and those of files (a stale asset name is a
# 404, never index.html passed off as a script).
CONSOLE_RESERVED_PREFIXES = ["/v1/", "/docs/", "/assets/"]


def console_files(dist: Path = ROOT / CONSOLE_DIST) -> list[StaticFile]:
    files = []
    for path in sorted(dist.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(dist).as_posix()
        files.append(
            StaticFile(
                "/" if relative == "index.html" else f"/{relative}",
                f"{CONSOLE_DIST}/{relative}",
                CONSOLE_CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                immutable=relative.startswith("assets/"),
            )
        )
    return files


STATIC_FILES += console_files()

# Envoy refuses a direct_response body larger than the route table allows (4 KiB by default).
MAX_STATIC_FILE_BYTES = 8 * 1024 * 1024

HEALTH_LUA = """\
-- Health checks name the service they ask about inside the request body; read it so the route
-- can send the check to that service's cluster.
function envoy_on_request(handle)
  local path = handle:headers():get(":path")
  if path == nil or string.sub(path, 1, 23) ~= "/grpc.health.v1.Health/" then
    return
  end
  local service = ""
  local body = handle:body()
  if body ~= nil and body:length() >= 7 then
    local bytes = body:getBytes(0, body:length())
    -- gRPC frame: 1 flag byte and 4 length bytes, then field 1 (tag 0x0A), a length, the name.
    if string.byte(bytes, 6) == 10 then
      local size = string.byte(bytes, 7)
      if size < 128 then
        service = string.sub(bytes, 8, 7 + size)
      end
    end
  end
  handle:headers():replace("x-seatmesh-health-service", service)
  handle:clearRouteCache()
end
"""


@dataclass
class EdgeConfig:
    listen_address: str = "127.0.0.1"
    listen_port: int = 8080
    admin_address: str = "127.0.0.1"
    admin_port: int = 9901
    # Service name -> list of (host, port) endpoints.
    endpoints: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    descriptor_path: str = str(DESCRIPTOR)
    cluster_type: str = "STATIC"
    health_interval: str = "1s"
    jwt_issuer: str = "seatmesh"
    jwt_audience: str = "seatmesh"
    jwks_cache_seconds: int = 300
    # Where jwt_authn fetches the JWKS: the edge itself.
    jwks_host: str = "127.0.0.1"
    # Proxies in front of the edge whose x-forwarded-for is believed (see runtime/edge.py).
    trusted_hops: int = field(default_factory=lambda: int(os.environ.get("SEATMESH_EDGE_TRUSTED_HOPS", "0")))
    # Tracing, read as the services read it (runtime/settings.py): the OTLP collector the edge's
    # spans go to (empty: the edge starts no traces) and the share of requests traced.
    otlp_endpoint: str = field(default_factory=lambda: os.environ.get("SEATMESH_OTLP_ENDPOINT", ""))
    trace_sample_ratio: float = field(
        default_factory=lambda: float(os.environ.get("SEATMESH_TRACE_SAMPLE_RATIO", "1"))
    )
    # A listener that answers only GET /stats/prometheus, for Prometheus where the admin port is
    # out of its reach (containers); 0: none (locally, Prometheus scrapes the admin port).
    stats_port: int = 0
    max_request_headers_kb: int = 16
    # Where STATIC_FILES are: the repository and site-packages (see StaticFile).
    root: str = str(ROOT)
    site_packages: str = str(SITE_PACKAGES)


def _tracing(config: EdgeConfig) -> dict[str, object] | None:
    if not config.otlp_endpoint.strip():
        return None
    if not 0.0 <= config.trace_sample_ratio <= 1.0:
        raise ValueError(
            f"SEATMESH_TRACE_SAMPLE_RATIO must be between 0 and 1, got {config.trace_sample_ratio}"
        )
    endpoint = OtlpEndpoint.parse(config.otlp_endpoint)
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "sample_percent": round(config.trace_sample_ratio * 100, 4),
    }


def render(config: EdgeConfig) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent), undefined=jinja2.StrictUndefined, autoescape=False
    )
    services = {
        name: {"full_name": full_name, "endpoints": config.endpoints[name]}
        for name, full_name in SERVICES.items()
    }
    return environment.get_template(TEMPLATE.name).render(
        listen_address=config.listen_address,
        listen_port=config.listen_port,
        admin_address=config.admin_address,
        admin_port=config.admin_port,
        services=services,
        descriptor_path=config.descriptor_path,
        cluster_type=config.cluster_type,
        health_interval=config.health_interval,
        jwt_issuer=config.jwt_issuer,
        jwt_audience=config.jwt_audience,
        jwks_cache_seconds=config.jwks_cache_seconds,
        jwks_host=config.jwks_host,
        jwks_port=config.listen_port,
        trusted_hops=config.trusted_hops,
        otlp=_tracing(config),
        stats_port=config.stats_port,
        max_request_headers_kb=config.max_request_headers_kb,
        rest_prefixes=REST_PREFIXES,
        internal_methods=INTERNAL_METHODS,
        anonymous_matches=ANONYMOUS_MATCHES,
        protected_prefixes=[prefix for prefix, _ in REST_PREFIXES]
        + [f"/{name}/" for name in SERVICES.values()],
        local_reply_codes=LOCAL_REPLY_CODES,
        health_lua=HEALTH_LUA,
        static_files=[
            {
                "path": static.path,
                "filename": static.location(config.root, config.site_packages),
                "content_type": static.content_type,
                "cache_control": "public, max-age=31536000, immutable" if static.immutable else "no-cache",
            }
            for static in STATIC_FILES
        ],
        max_static_file_bytes=MAX_STATIC_FILE_BYTES,
        console_index=f"{config.root}/{CONSOLE_DIST}/index.html"
        if (ROOT / CONSOLE_DIST / "index.html").is_file()
        else "",
        console_reserved_prefixes=CONSOLE_RESERVED_PREFIXES,
    )


def compose_config() -> EdgeConfig:
    return EdgeConfig(
        listen_address="0.0.0.0",
        admin_address="127.0.0.1",
        endpoints={name: [(name, 50051 + index)] for index, name in enumerate(SERVICES)},
        descriptor_path=f"{IMAGE_ROOT}/gen/seatmesh.pb",
        cluster_type="STRICT_DNS",
        health_interval="2s",
        stats_port=STATS_PORT,
        root=IMAGE_ROOT,
        site_packages=IMAGE_SITE_PACKAGES,
    )


def kubernetes_config() -> EdgeConfig:
    """The compose names and ports, which the headless Services repeat (one DNS name per service
    resolving to every ready pod). Health is checked every second: a pod that turns NOT_SERVING on
    SIGTERM stops receiving requests within a second, well inside its drain."""
    return replace(compose_config(), health_interval="1s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    outputs = parser.add_mutually_exclusive_group()
    outputs.add_argument("--compose", action="store_true", help=f"write {COMPOSE_OUTPUT.relative_to(ROOT)}")
    outputs.add_argument(
        "--kubernetes", action="store_true", help=f"write {KUBERNETES_OUTPUT.relative_to(ROOT)}"
    )
    args = parser.parse_args()
    if args.compose:
        COMPOSE_OUTPUT.write_text(render(compose_config()))
        print(f"wrote {COMPOSE_OUTPUT.relative_to(ROOT)}")
    elif args.kubernetes:
        KUBERNETES_OUTPUT.write_text(render(kubernetes_config()))
        print(f"wrote {KUBERNETES_OUTPUT.relative_to(ROOT)}")
    else:
        print(render(compose_config()), end="")


if __name__ == "__main__":
    main()
