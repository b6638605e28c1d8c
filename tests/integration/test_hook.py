"""ConstantContactHook against the sandbox over real HTTP: tokens, retries, errors, pagination."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import pytest

from cc_provider.contacts.uploads import iter_json_import_batches
from cc_provider.exceptions import (
    ConstantContactApiError,
    ConstantContactAuthError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
)
from cc_provider.hooks._retry import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.testing import CONNECTION_ENV as CONN_ENV
from cc_sandbox.testing import add_fault, expire_tokens, patch_config, reset_sandbox
from cc_sandbox.testing import sandbox_stats as stats


@pytest.fixture(autouse=True)
def fresh_process_state(cc_connection, monkeypatch):
    """
    Each test starts with no access token held by the process, and without client-side pacing of API
    calls (the session sandbox has its limits off; TestPacing turns both on).
    """
    set_connection(monkeypatch, cc_connection, extra={"requests_per_second": 0})
    reset_process_state()
    yield
    reset_process_state()


def requests_to(server, key: str) -> int:
    return stats(server)["requests"].get(key, 0)


def inject(server, path: str, status: int, count: int = 1, **options) -> None:
    add_fault(server, path, status, count=count, **options)


def fast_hook(**kwargs) -> ConstantContactHook:
    return ConstantContactHook(backoff_base=0.01, **{"max_retries": 3, **kwargs})


def set_connection(monkeypatch, conn: dict, **changes) -> None:
    changed = {**conn, **{k: v for k, v in changes.items() if k != "extra"}}
    changed["extra"] = {**conn["extra"], **changes.get("extra", {})}
    monkeypatch.setenv(CONN_ENV, json.dumps(changed))


class TestTokens:
    def test_one_refresh_serves_many_calls(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        for _ in range(3):
            hook.call_json("GET", "/contact_lists")
        assert stats(cc_sandbox)["refreshes"] == 1
        assert hook.exchange.tokens.refresh_count == 1

    def test_expired_token_is_refreshed_once_and_the_call_replayed(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        hook.create_list("Before expiry")
        expire_tokens(cc_sandbox)
        found = hook.find_list_by_name("Before expiry")
        assert found is not None
        assert hook.exchange.tokens.refresh_count == 2
        assert stats(cc_sandbox)["refreshes"] == 2

    def test_token_refreshed_ahead_of_expiry(self, cc_sandbox, cc_connection):
        patch_config(cc_sandbox, access_token_ttl=2)
        try:
            hook = fast_hook()
            hook.call_json("GET", "/contact_lists")
            token = hook.exchange.tokens.slot.token
            assert token is not None and token.expires_within(2, time.time())
            hook.exchange.tokens.refresh_lead_seconds = 300  # capped to half the 2 s lifetime
            time.sleep(1.1)
            hook.call_json("GET", "/contact_lists")
            assert hook.exchange.tokens.refresh_count == 2
            assert requests_to(cc_sandbox, "GET /v3/contact_lists") == 2  # no 401 round trip was needed
        finally:
            patch_config(cc_sandbox, access_token_ttl=86400)

    def test_bad_refresh_token_says_how_to_reauthorize(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, extra={"refresh_token": "revoked-refresh-token-value"})
        with pytest.raises(ConstantContactAuthError, match="invalid_grant") as err:
            fast_hook().call_json("GET", "/contact_lists")
        assert "Authorize the app again" in str(err.value)
        assert "revoked-refresh-token-value" not in str(err.value)

    def test_bad_client_secret_points_at_credentials(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, password="wrong-client-secret-value")
        with pytest.raises(ConstantContactAuthError, match="client credentials") as err:
            fast_hook().call_json("GET", "/contact_lists")
        assert "wrong-client-secret-value" not in str(err.value)

    def test_missing_connection_fields_are_named(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, login=None, password=None)
        with pytest.raises(ValueError, match=r"login \(client ID / API key\), password \(client secret\)"):
            fast_hook().call_json("GET", "/contact_lists")

    def test_missing_refresh_token_says_how_to_authorize(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, extra={"refresh_token": None})
        with pytest.raises(ConstantContactAuthError, match="has no refresh token") as err:
            fast_hook().call_json("GET", "/contact_lists")
        assert "python -m cc_provider.auth login --conn-id constant_contact_default" in str(err.value)

    @pytest.mark.parametrize("name", ["refresh_mode", "token_type"])  # the UI name and its older alias
    def test_unknown_refresh_mode_is_refused(self, cc_sandbox, cc_connection, monkeypatch, name):
        set_connection(monkeypatch, cc_connection, extra={name: "forever"})
        with pytest.raises(ValueError, match="extra 'refresh_mode' must be one of long_lived, rotating"):
            fast_hook().call_json("GET", "/contact_lists")

    def test_credential_store_is_read_under_its_ui_name(self, cc_sandbox, cc_connection, monkeypatch, tmp_path):
        store = tmp_path / "tokens.json"
        set_connection(
            monkeypatch, cc_connection, extra={"refresh_mode": "rotating", "credential_store": f"file:{store}"}
        )
        fast_hook().call_json("GET", "/contact_lists")
        assert store.exists()  # rotating mode keeps the tokens in the store named by the UI field

    def test_the_connection_sets_the_http_timeout(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, extra={"timeout": 0.5})
        fast_hook().call_json("GET", "/contact_lists")  # a token first, answered at once
        inject(cc_sandbox, "/v3/contact_lists", 503, count=1, delay=2)
        with pytest.raises(ConstantContactTransportError, match="after 1 attempts: (ReadTimeout|ConnectionError)"):
            fast_hook(max_retries=0).call_json("GET", "/contact_lists")

    def test_a_bad_timeout_is_named(self, cc_sandbox, cc_connection, monkeypatch):
        set_connection(monkeypatch, cc_connection, extra={"timeout": "soon"})
        with pytest.raises(ValueError, match="extra 'timeout' must be a positive number"):
            fast_hook().call_json("GET", "/contact_lists")

    def test_token_endpoint_5xx_is_retried(self, cc_sandbox, cc_connection):
        inject(cc_sandbox, "/oauth2/default/v1/token", 503, count=2)
        assert fast_hook().test_connection()[0] is True
        assert stats(cc_sandbox)["faults_served"] == 2

    def test_secrets_never_reach_the_log(self, cc_sandbox, cc_connection, caplog, capsys):
        caplog.set_level(logging.DEBUG)
        inject(cc_sandbox, "/v3/contact_lists", 503, count=1)
        hook = fast_hook()
        hook.call_json("GET", "/contact_lists")
        expire_tokens(cc_sandbox)
        hook.call_json("GET", "/contact_lists")
        assert hook.exchange.tokens.slot.token is not None
        secrets = [
            hook.exchange.tokens.slot.token.value,
            cc_connection["password"],
            cc_connection["extra"]["refresh_token"],
        ]
        logged = caplog.text + capsys.readouterr().out
        assert "retry 1 of 3" in logged
        assert "refreshing the access token once" in logged
        for secret in secrets:
            assert secret not in logged


class TestRetries:
    def test_5xx_burst_is_retried_then_succeeds(self, cc_sandbox, cc_connection, caplog, capsys):
        inject(cc_sandbox, "/v3/contact_lists", 503, count=2, method="GET")
        with caplog.at_level(logging.WARNING):
            page = fast_hook().call_json("GET", "/contact_lists")
        assert page["lists"] == []
        assert requests_to(cc_sandbox, "GET /v3/contact_lists") == 3
        assert (caplog.text + capsys.readouterr().out).count("failed (status 503)") == 2

    def test_throttled_429_is_retried(self, cc_sandbox, cc_connection):
        inject(
            cc_sandbox,
            "/v3/contact_lists",
            429,
            count=1,
            body={"error_key": "throttled", "error_message": "Too Many Requests"},
        )
        assert fast_hook().call_json("GET", "/contact_lists")["lists"] == []

    def test_quota_exceeded_fails_fast(self, cc_sandbox, cc_connection):
        inject(
            cc_sandbox,
            "/v3/contact_lists",
            429,
            count=5,
            body={"error_key": "quota_exceeded", "error_message": "Limit Exceeded"},
        )
        with pytest.raises(ConstantContactQuotaExceededError, match="resets at 00:00 UTC"):
            fast_hook().call_json("GET", "/contact_lists")
        assert stats(cc_sandbox)["faults_served"] == 1

    def test_gives_up_after_max_retries(self, cc_sandbox, cc_connection):
        inject(cc_sandbox, "/v3/contact_lists", 500, count=10)
        with pytest.raises(ConstantContactApiError, match="Gave up after 3 attempts") as err:
            fast_hook(max_retries=2).call_json("GET", "/contact_lists")
        assert err.value.status_code == 500
        assert stats(cc_sandbox)["faults_served"] == 3

    def test_client_errors_are_not_retried_and_carry_the_api_error(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        hook.create_list("Twice")
        with pytest.raises(ConstantContactApiError) as err:
            hook.create_list("Twice")
        assert err.value.status_code == 409
        assert err.value.error_key
        assert err.value.path == "/v3/contact_lists"
        assert requests_to(cc_sandbox, "POST /v3/contact_lists") == 2

    def test_object_error_body_is_parsed(self, cc_sandbox, cc_connection):
        inject(cc_sandbox, "/v3/contact_lists", 403, body={"error_key": "forbidden", "error_message": "No scope"})
        with pytest.raises(ConstantContactApiError, match="No scope") as err:
            fast_hook().call_json("GET", "/contact_lists")
        assert (err.value.status_code, err.value.error_key) == (403, "forbidden")

    def test_unreachable_api_raises_transport_error(self, cc_sandbox, cc_connection, monkeypatch):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        set_connection(
            monkeypatch, cc_connection, extra={"auth_base_url": f"http://127.0.0.1:{closed_port}/oauth2/default/v1"}
        )
        with pytest.raises(ConstantContactTransportError, match="after 3 attempts"):
            fast_hook(max_retries=2).call_json("GET", "/contact_lists")


class TestListsAndPagination:
    def test_get_or_create_list_reuses_the_existing_list(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        first, created = hook.get_or_create_list("Newsletter", "All subscribers")
        again, created_again = hook.get_or_create_list("Newsletter")
        assert (created, created_again) == (True, False)
        assert first["list_id"] == again["list_id"]
        assert requests_to(cc_sandbox, "POST /v3/contact_lists") == 1

    def test_paginate_follows_next_links_to_the_last_page(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        names = [f"List {i}" for i in range(7)]
        for name in names:
            hook.create_list(name)
        seen = [item["name"] for item in hook.paginate("/contact_lists", "lists", {"limit": 3})]
        assert sorted(seen) == sorted(names)
        assert requests_to(cc_sandbox, "GET /v3/contact_lists") == 3

    def test_find_list_by_name_matches_exactly(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        hook.create_list("Customers 2026")
        assert hook.find_list_by_name("Customers") is None
        assert hook.find_list_by_name("Customers 2026")["name"] == "Customers 2026"

    def test_contacts_of_a_list_are_counted_and_paginated(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        list_id = hook.create_list("Imported")["list_id"]
        records = [(i, {"email": f"user{i}@example.com"}) for i in range(1, 13)]
        (batch,) = iter_json_import_batches(records, [list_id])
        activity = hook.submit_json_import(batch.body)
        wait_completed(hook, activity["activity_id"])
        assert hook.count_list_members(list_id) == 12
        emails = [
            c["email_address"]["address"]
            for c in hook.paginate("/contacts", "contacts", {"lists": list_id, "limit": 5})
        ]
        assert sorted(emails) == sorted(r["email"] for _, r in records)
        assert requests_to(cc_sandbox, "GET /v3/contacts") == 1 + 3

    def test_async_activity_read_matches_sync(self, cc_sandbox, cc_connection):
        hook = fast_hook()
        list_id = hook.create_list("Async")["list_id"]
        (batch,) = iter_json_import_batches([(1, {"email": "a@example.com"})], [list_id])
        activity_id = hook.submit_json_import(batch.body)["activity_id"]

        async def read():
            try:
                return await hook.aget_activity(activity_id)
            finally:
                await hook.aclose()

        assert asyncio.run(read())["activity_id"] == activity_id


class TestPacing:
    def test_the_sandboxs_real_limits_never_answer_429(self, cc_sandbox, cc_connection, monkeypatch):
        """The sandbox enforces 4 API requests and 1 token request a second; the hook stays under both."""
        set_connection(monkeypatch, cc_connection, extra={"requests_per_second": 4})
        patch_config(cc_sandbox, rate_limit_per_second=4, token_rate_limit_per_second=1)
        try:
            started = time.monotonic()
            hook = fast_hook()
            for _ in range(10):
                hook.call_json("GET", "/contact_lists")
            expire_tokens(cc_sandbox)  # a second refresh right after the first: paced to 1 a second
            hook.call_json("GET", "/contact_lists")
            elapsed = time.monotonic() - started
            counters = stats(cc_sandbox)
        finally:
            reset_sandbox(cc_sandbox)
        assert counters["requests"]["GET /v3/contact_lists"] == 12  # 10, then the 401 and its replay
        assert elapsed >= 2.0  # 4 at once, then 4 a second
        assert counters["throttled"] == 0 and counters["token_throttled"] == 0
        assert counters["refreshes"] == 2


def wait_completed(hook: ConstantContactHook, activity_id: str, seconds: float = 20) -> dict:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        activity = hook.get_activity(activity_id)
        if activity["state"] == "completed":
            return activity
        time.sleep(0.1)
    raise AssertionError(f"activity {activity_id} did not complete")
