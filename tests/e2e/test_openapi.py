"""The REST contract as the edge serves it: /openapi.json and Swagger UI at /docs, anonymously, on
the one port, with nothing fetched from anywhere else; and the spec's claims checked against the
running edge (every operation reaches its service, a token is required exactly where it says).

Swagger UI runs in Debian's Chromium driven by Playwright (never a downloaded browser), with every
request to another origin refused and recorded, so "works with the network off" is tested.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Route, sync_playwright

from scripts.envoy_config import STATIC_FILES
from scripts.mesh import Mesh
from tests.support.accounts import signup

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SEATMESH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads((ROOT / "gen" / "openapi.json").read_text())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def _reason(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    for detail in body.get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return detail.get("reason", ""), detail.get("metadata", {})
    return "", {}


def test_the_spec_is_served_without_a_token_as_generated(rest: httpx.Client, spec: dict[str, Any]) -> None:
    served = rest.get("/openapi.json")
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "application/json"
    assert served.json() == spec
    # No jwt_authn rule covers it: even a forged token is not looked at.
    assert rest.get("/openapi.json", headers={"Authorization": "Bearer forged"}).status_code == 200
    assert rest.head("/openapi.json").status_code == 200


def test_the_docs_page_and_its_assets_are_served_with_their_types(rest: httpx.Client) -> None:
    for static in STATIC_FILES:
        if not (static.path == "/docs" or static.path.startswith("/docs/") or static.path == "/openapi.json"):
            continue  # other files (the web console's) are theirs to test
        response = rest.get(static.path)
        assert response.status_code == 200, static.path
        assert response.headers["content-type"] == static.content_type
        assert response.headers["x-content-type-options"] == "nosniff"
        expected_cache = "public, max-age=31536000, immutable" if static.immutable else "no-cache"
        assert response.headers["cache-control"] == expected_cache, static.path
    # Only GET and HEAD: a POST is nobody's route.
    assert rest.post("/docs", content=b"{}").status_code == 404


def test_swagger_ui_shows_every_operation_offline_and_try_it_out_works_with_a_token(
    mesh: Mesh, rest: httpx.Client, browser: Browser, spec: dict[str, Any]
) -> None:
    account = signup(rest, mesh)
    origin = urlsplit(mesh.rest_url).netloc
    elsewhere: list[str] = []

    def same_origin_only(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context = browser.new_context(base_url=mesh.rest_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    context.route("**/*", same_origin_only)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/docs")
        page.wait_for_selector(".opblock")
        operations = [
            op for item in spec["paths"].values() for method, op in item.items() if method in HTTP_METHODS
        ]
        assert page.locator(".opblock").count() == len(operations)
        for operation in operations:
            assert page.locator(f"#operations-{operation['tags'][0]}-{operation['operationId']}").count() == 1

        # As a person would: Authorize with the pasted token, then try GET /v1/users/me.
        page.get_by_role("button", name="Authorize").first.click()
        page.get_by_label("auth-bearer-value").fill(account.access_token)
        page.get_by_role("button", name="Apply credentials").click()
        page.locator(".modal-ux").get_by_role("button", name="Close").click()
        block = page.locator("#operations-UserService-UserService_GetCurrentUser")
        block.locator(".opblock-summary").click()
        block.get_by_role("button", name="Try it out").click()
        block.get_by_role("button", name="Execute").click()
        status = block.locator(".live-responses-table .response .response-col_status").first
        status.wait_for()
        assert status.inner_text().strip() == "200"
        assert (
            account.email
            in block.locator(".live-responses-table .response .response-col_description").first.inner_text()
        )
    finally:
        context.close()
    assert not elsewhere, f"the docs reached outside the edge: {elsewhere}"
    assert not errors, f"Swagger UI threw: {errors}"


def _sample_url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def test_every_operation_reaches_its_service_and_asks_for_a_token_where_the_spec_says(
    rest: httpx.Client, spec: dict[str, Any]
) -> None:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            body = {"json": {}} if "requestBody" in operation else {}
            response = rest.request(method.upper(), _sample_url(path), **body)
            reason, metadata = _reason(response.json())
            label = f"{method.upper()} {path}"
            # Never the edge's "no such path": the transcoder knows every operation of the spec.
            assert not (response.status_code == 404 and metadata.get("edge") == "envoy"), label
            if operation["security"] == [{"bearerAuth": []}]:
                assert (response.status_code, reason) == (401, "UNAUTHENTICATED"), label
            else:
                assert response.status_code != 401, f"{label}: {response.text}"
