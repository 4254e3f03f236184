"""What the edge does with a request, read from the Envoy configuration it runs.

The configuration is rendered from envoy/envoy.yaml.j2 exactly as `make run` renders it and then
read like Envoy reads it: which services the transcoder serves, which RPCs RBAC refuses, what
jwt_authn requires on a path (rules in order, first match wins), which route answers a request,
and the JSON replies Envoy makes itself.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

import yaml

from scripts.envoy_config import SERVICES, EdgeConfig, render
from scripts.openapi.errors import EdgeReply

_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_JWT = "envoy.filters.http.jwt_authn"
_RBAC = "envoy.filters.http.rbac"
_TEMPLATE_VARIABLE = re.compile(r"\{[^}]*\}")

# What Envoy's own replies mean, by their ErrorInfo reason.
_EDGE_MEANINGS = {
    "BAD_REQUEST": "the edge could not map the request (malformed JSON, an unknown or malformed parameter)",
    "UNAUTHENTICATED": "the edge refused the access token (missing where required, expired, forged)",
    "PERMISSION_DENIED": "the edge refused the request (a token for another audience, an internal RPC)",
    "NOT_FOUND": "no such path",
    "PAYLOAD_TOO_LARGE": "the request body is over 1 MiB",
    "HEADERS_TOO_LARGE": "the request headers are too large",
    "RATE_LIMITED": "too many requests",
    "INTERNAL": "the edge failed",
    "BAD_GATEWAY": "the service answered nothing usable",
    "UNAVAILABLE": "no healthy instance of the service: retry shortly",
    "DEADLINE_EXCEEDED": "the service did not answer in time",
}


class Token(enum.Enum):
    REQUIRED = "required"
    OPTIONAL = "optional"  # anonymous calls pass; a token that is sent must be valid
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Edge:
    config: dict[str, Any]

    @property
    def _manager(self) -> dict[str, Any]:
        listener = self.config["static_resources"]["listeners"][0]
        manager: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
        return manager

    def _filter(self, name: str) -> dict[str, Any]:
        for http_filter in self._manager["http_filters"]:
            if http_filter["name"] == name:
                config: dict[str, Any] = http_filter["typed_config"]
                return config
        raise LookupError(f"the edge has no {name} filter")

    @property
    def routes(self) -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = self._manager["route_config"]["virtual_hosts"][0]["routes"]
        return routes

    @property
    def transcoded_services(self) -> list[str]:
        services: list[str] = self._filter(_TRANSCODER)["services"]
        return services

    @property
    def internal_methods(self) -> set[str]:
        """gRPC paths (/package.Service/Method) RBAC refuses at the edge."""
        refused = set()
        for policy in self._filter(_RBAC)["rules"]["policies"].values():
            for permission in policy["permissions"]:
                refused.add(permission["url_path"]["path"]["exact"])
        return refused

    def token(self, method: str, path_template: str) -> Token:
        """What jwt_authn requires of a request to this REST route."""
        jwt = self._filter(_JWT)
        path = sample_path(path_template)
        for rule in jwt["rules"]:
            if matches(rule["match"], method, path):
                requirement = jwt["requirement_map"][rule["requirement_name"]]
                if "provider_name" in requirement:
                    return Token.REQUIRED
                alternatives = requirement["requires_any"]["requirements"]
                if any("allow_missing" in alternative for alternative in alternatives):
                    return Token.OPTIONAL
                raise ValueError(f"unrecognised jwt_authn requirement {requirement!r}")
        return Token.UNCHECKED

    def route(self, method: str, path: str) -> dict[str, Any] | None:
        """The first route of the edge that matches, as the router picks it."""
        for route in self.routes:
            if matches(route["match"], method, path):
                return route
        return None

    def replies(self) -> dict[int, EdgeReply]:
        """The JSON answers Envoy makes itself (local_reply_config), by HTTP status."""
        found = {}
        for mapper in self._manager["local_reply_config"]["mappers"]:
            status = mapper["filter"]["and_filter"]["filters"][0]["status_code_filter"]["comparison"]["value"]
            body = mapper["body_format_override"]["json_format"]
            reason = body["details"][0]["reason"]
            found[status["default_value"]] = EdgeReply(
                status["default_value"],
                body["code"],
                reason,
                _EDGE_MEANINGS.get(reason, "answered by the edge"),
            )
        return found


def sample_path(path_template: str) -> str:
    """A concrete path for a template: every variable becomes one plain segment."""
    return _TEMPLATE_VARIABLE.sub("x", path_template)


def matches(match: dict[str, Any], method: str, path: str) -> bool:
    """Envoy's RouteMatch for the parts the edge uses: path, prefix, safe_regex and header rules."""
    if "path" in match and path != match["path"]:
        return False
    if "prefix" in match and not path.startswith(match["prefix"]):
        return False
    if "safe_regex" in match and not re.fullmatch(match["safe_regex"]["regex"], path):
        return False
    headers = {":method": method}
    for header in match.get("headers", []):
        value = headers.get(header["name"])
        if "present_match" in header:
            if (value is not None) != header["present_match"]:
                return False
            continue
        string_match = header["string_match"]
        if value is None:
            return False
        if "exact" in string_match and value != string_match["exact"]:
            return False
        if "safe_regex" in string_match and not re.fullmatch(string_match["safe_regex"]["regex"], value):
            return False
    return True


def load_edge() -> Edge:
    """The edge as `make run` configures it (the endpoints play no part in what is read here)."""
    placeholder = {name: [("127.0.0.1", 1)] for name in SERVICES}
    return Edge(yaml.safe_load(render(EdgeConfig(endpoints=placeholder))))
