"""What the edge (Envoy) tells a service about a call, and how a service knows it was the edge.

Rate limits per client address (sign-up, login, live streams) need the address of the person, not
of Envoy. Envoy computes it once — the peer it sees, or, behind load balancers it is told to trust
(`SEATMESH_EDGE_TRUSTED_HOPS`, rendered into `xff_num_trusted_hops`), the address they forwarded —
and sends it upstream in `x-seatmesh-client-address`, overwriting whatever a client put there.
Client-set `x-forwarded-for` or `x-envoy-external-address` are never read: Envoy passes those
through for peers it considers internal, and a direct caller can send anything.

A direct caller of a service port could send `x-seatmesh-client-address` too, so Envoy proves
itself with `x-seatmesh-edge: <SEATMESH_EDGE_SECRET>` (also overwritten on every request). A call
without the proof is known by its own peer address; so is every call when no edge secret is
configured.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

EDGE_HEADER = "x-seatmesh-edge"
CLIENT_ADDRESS_HEADER = "x-seatmesh-client-address"
UNKNOWN = "unknown"


def parse_ip(value: str) -> str:
    """The canonical text of an IP address, or "" when `value` is not one."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def peer_ip(peer: str) -> str:
    """The address of a gRPC peer: "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" or "unix:/path"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return parse_ip(rest.rpartition(":")[0])
    if kind == "ipv6":
        return parse_ip(rest.rpartition(":")[0].strip("[]"))
    return ""


class Edge:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def came_through_edge(self, metadata: Mapping[str, str]) -> bool:
        presented = metadata.get(EDGE_HEADER, "")
        return bool(self._secret) and hmac.compare_digest(presented.encode(), self._secret)

    def client_address(self, metadata: Mapping[str, str], peer: str) -> str:
        """The caller's address for rate limits (see the module docstring for whom it trusts)."""
        if self.came_through_edge(metadata):
            address = parse_ip(metadata.get(CLIENT_ADDRESS_HEADER, ""))
            if address:
                return address
        return peer_ip(peer) or UNKNOWN
