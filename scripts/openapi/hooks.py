"""Schemathesis hooks for the fuzz of the REST contract (`SCHEMATHESIS_HOOKS=scripts.openapi.hooks`).

- `error_reasons_conform`, a check: an error answer's gRPC code and ErrorInfo reasons are among
  those the spec lists for that operation and status (`x-grpc-codes`, `x-error-reasons`), so a
  reason the proto comments do not promise is caught like any other contract breach.
- `SignedIn`, the run's identity: a real sign-in's tokens (SEATMESH_FUZZ_URL and
  SEATMESH_FUZZ_REFRESH_TOKEN), the access token renewed through `/v1/auth:refresh` before it
  expires, so a long run keeps one caller throughout.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import httpx
import schemathesis

from scripts.openapi.errors import ERROR_INFO_URL

# Access tokens live 15 minutes by default; renew well before.
REFRESH_SECONDS = 600


@schemathesis.check
def error_reasons_conform(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    if documented is None or "x-error-reasons" not in documented:
        return None  # an undocumented status is status_code_conformance's finding
    try:
        body = json.loads(response.content)
    except ValueError:
        return None  # content_type_conformance and response_schema_conformance report it
    if not isinstance(body, dict):
        return None
    code = body.get("code")
    if code not in documented["x-grpc-codes"]:
        listed = documented["x-grpc-codes"]
        raise AssertionError(f"gRPC code {code} under HTTP {response.status_code}; the spec lists {listed}")
    for detail in body.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == ERROR_INFO_URL:
            reason = detail.get("reason")
            if reason not in documented["x-error-reasons"]:
                raise AssertionError(
                    f"ErrorInfo reason {reason!r} under HTTP {response.status_code} is not one the spec "
                    f"lists for this operation: {documented['x-error-reasons']}"
                )
    return True


# Every 401 is an answer under test (a forged token, a wrong password), never a cue to sign in again.
@schemathesis.auth(refresh_interval=REFRESH_SECONDS, retry_on=[])
class SignedIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refresh_token = os.environ["SEATMESH_FUZZ_REFRESH_TOKEN"]

    def get(self, case: Any, context: Any) -> str:
        # Refresh tokens rotate: one renewal at a time, each with the token the last one gave.
        with self._lock:
            response = httpx.post(
                f"{os.environ['SEATMESH_FUZZ_URL']}/v1/auth:refresh",
                json={"refreshToken": self._refresh_token},
                timeout=10,
            )
            response.raise_for_status()
            tokens = response.json()
            self._refresh_token = tokens["refreshToken"]
            return str(tokens["accessToken"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
