"""Renders envoy/envoy.yaml.j2, the one source of the edge's configuration.

`python -m scripts.envoy_config --compose` writes envoy/envoy.compose.yaml (docker-compose's copy,
kept in git and checked by the tests); the mesh launcher renders a local copy on every start.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
COMPOSE_OUTPUT = ROOT / "envoy" / "envoy.compose.yaml"
DESCRIPTOR = ROOT / "gen" / "seatmesh.pb"

SERVICES = {
    "users": "seatmesh.users.v1.UserService",
    "events": "seatmesh.events.v1.EventService",
    "bookings": "seatmesh.bookings.v1.BookingService",
    "notifications": "seatmesh.notifications.v1.NotificationService",
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
]

# RPCs only services may call; the edge answers 403 (PERMISSION_DENIED) for them.
INTERNAL_METHODS = [
    "/seatmesh.users.v1.UserService/IssueServiceToken",
    "/seatmesh.users.v1.UserService/BatchGetUsers",
    "/seatmesh.events.v1.EventService/ReserveSeats",
    "/seatmesh.events.v1.EventService/ReleaseSeats",
    "/seatmesh.events.v1.EventService/BatchGetEvents",
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
    (429, 8, "RATE_LIMITED"),
    (500, 13, "INTERNAL"),
    (502, 14, "BAD_GATEWAY"),
    (503, 14, "UNAVAILABLE"),
    (504, 4, "DEADLINE_EXCEEDED"),
]

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
        rest_prefixes=REST_PREFIXES,
        internal_methods=INTERNAL_METHODS,
        anonymous_matches=ANONYMOUS_MATCHES,
        protected_prefixes=[prefix for prefix, _ in REST_PREFIXES]
        + [f"/{name}/" for name in SERVICES.values()],
        local_reply_codes=LOCAL_REPLY_CODES,
        health_lua=HEALTH_LUA,
    )


def compose_config() -> EdgeConfig:
    return EdgeConfig(
        listen_address="0.0.0.0",
        admin_address="127.0.0.1",
        endpoints={name: [(name, 50051 + index)] for index, name in enumerate(SERVICES)},
        descriptor_path="/app/gen/seatmesh.pb",
        cluster_type="STRICT_DNS",
        health_interval="2s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compose", action="store_true", help=f"write {COMPOSE_OUTPUT.relative_to(ROOT)}")
    args = parser.parse_args()
    if args.compose:
        COMPOSE_OUTPUT.write_text(render(compose_config()))
        print(f"wrote {COMPOSE_OUTPUT.relative_to(ROOT)}")
    else:
        print(render(compose_config()), end="")


if __name__ == "__main__":
    main()
