"""Fixtures for the sandbox's own tests: a reset sandbox, a signed-in HTTP client, and the conformance check.

Every response any sandbox in this process sends during a test is recorded and, when the test ends,
checked against the official spec (see ``spec.py``); a test whose sandbox answered off-spec errors.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

if "cc_sandbox.testing" not in sys.modules:  # the top-level conftest did not load the plugin
    from cc_sandbox.testing import cc_sandbox, cc_sandbox_reset  # noqa: F401

from cc_sandbox import SandboxServer
from cc_sandbox.middleware import ObservedResponse, add_response_observer, remove_response_observer
from cc_sandbox.testing import admin_call
from tests.sandbox.spec import SPEC, ResponseChecker, load_spec

TIMEOUT = 10


class Api:
    """A ``requests`` session signed in to a sandbox, with a few conveniences."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.new_token()}"

    def new_token(self) -> str:
        cfg = self.server.config
        response = requests.post(
            self.server.token_url,
            auth=(cfg.client_id, cfg.client_secret),
            data={"grant_type": "refresh_token", "refresh_token": cfg.refresh_token},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def url(self, path: str) -> str:
        return self.server.url + (path if path.startswith("/v3") else "/v3" + path)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create_field(self, label: str, field_type: str = "string") -> dict[str, Any]:
        response = self.post("/contact_custom_fields", json={"label": label, "type": field_type})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def create_list(self, name: str, **fields: Any) -> dict[str, Any]:
        response = self.post("/contact_lists", json={"name": name, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def seed_contact(self, email: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = admin_call(self.server, "POST", "contacts", {"email": email, **fields})
        return result

    def start_import(self, contacts: list[dict[str, Any]], list_ids: list[str]) -> dict[str, Any]:
        response = self.post("/activities/contacts_json_import", json={"import_data": contacts, "list_ids": list_ids})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def activity(self, activity_id: str) -> dict[str, Any]:
        response = self.get(f"/activities/{activity_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for_state(self, activity_id: str, state: str, seconds: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            body = self.activity(activity_id)
            if body["state"] == state or time.monotonic() > deadline:
                assert body["state"] == state, body
                return body
            time.sleep(0.01)

    def all_pages(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        response = self.get(path, params=params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body[key])
            if "_links" not in body:
                return items
            response = self.get(body["_links"]["next"]["href"])


@pytest.fixture
def sandbox(cc_sandbox_reset: SandboxServer) -> SandboxServer:
    """The session sandbox, reset for this test."""
    return cc_sandbox_reset


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[Api]:
    """An HTTP client holding a fresh access token for the reset sandbox."""
    client = Api(sandbox)
    yield client
    client.session.close()


@pytest.fixture(scope="session")
def response_checker() -> ResponseChecker | None:
    """The official spec, loaded once; ``None`` outside CI when the checkout has no ``../shared`` beside it."""
    if not SPEC.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the Constant Contact spec is not available at {SPEC}")
        return None  # the spec cannot ship with the package (its licence); conformance is checked in CI
    return ResponseChecker(load_spec())


@pytest.fixture(autouse=True)
def responses_conform(response_checker: ResponseChecker | None) -> Iterator[list[ObservedResponse]]:
    """Record every response sent during the test; fail the test if one does not conform to the spec."""
    seen: list[ObservedResponse] = []
    if response_checker is None:
        yield seen
        return
    add_response_observer(seen.append)
    try:
        yield seen
    finally:
        remove_response_observer(seen.append)
    problems = [problem for response in list(seen) for problem in response_checker.problems(response)]
    assert not problems, "off-spec responses:\n" + "\n".join(problems[:20])


@pytest.fixture
def spec_checker(response_checker: ResponseChecker | None) -> ResponseChecker:
    """The spec checker for tests about conformance itself; skipped where the spec is absent (never in CI)."""
    if response_checker is None:
        pytest.skip(f"the Constant Contact spec is not at {SPEC} (it sits beside the repo in CI; it cannot ship)")
    return response_checker
