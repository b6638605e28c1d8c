"""Every fault knob of the sandbox, exercised through the provider's hook (the client users run).

Only the hook's public surface is used: ``call_json``, ``get_activity`` and the provider's exceptions.
"""

from __future__ import annotations

import json

import pytest

from cc_provider.exceptions import ConstantContactApiError, ConstantContactAuthError, ConstantContactError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.testing import (
    CONNECTION_ENV,
    add_activity_fault,
    add_fault,
    advance_clock,
    expire_tokens,
    patch_config,
    revoke_refresh_tokens,
    sandbox_stats,
    set_activity_state,
)

try:  # the hook keeps tokens and limiters per process; start each test without them
    from cc_provider.hooks._retry import reset_process_state
except ImportError:  # pragma: no cover - older hooks keep no process state

    def reset_process_state() -> None:
        return None


@pytest.fixture
def hook(cc_sandbox_connection):
    reset_process_state()
    yield ConstantContactHook(max_retries=3, backoff_base=0.01, timeout=2)
    reset_process_state()


def new_import(hook: ConstantContactHook, n: int = 4) -> str:
    lst = hook.call_json("POST", "/contact_lists", json_body={"name": "Hook faults"})["list_id"]
    body = {"import_data": [{"email": f"h{i}@example.com"} for i in range(n)], "list_ids": [lst]}
    return str(hook.call_json("POST", "/activities/contacts_json_import", json_body=body)["activity_id"])


def wait_for(hook: ConstantContactHook, activity_id: str, state: str) -> dict:
    import time

    deadline = time.monotonic() + 10
    while (body := hook.get_activity(activity_id))["state"] != state:
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    return body


def test_status_faults_are_retried(hook, cc_sandbox):
    add_fault(cc_sandbox, "/v3/contacts", 503, count=2)
    assert hook.call_json("GET", "/contacts") == {"contacts": []}
    assert sandbox_stats(cc_sandbox)["faults_served"] == 2


def test_a_non_retryable_status_fault_raises(hook, cc_sandbox):
    add_fault(cc_sandbox, "/v3/contacts", 400)
    with pytest.raises(ConstantContactApiError) as err:
        hook.call_json("GET", "/contacts")
    assert err.value.status_code == 400


def test_added_latency_times_out_then_the_retry_succeeds(hook, cc_sandbox):
    hook.call_json("GET", "/contacts")  # signed in
    add_fault(cc_sandbox, "/v3/contacts", 200, body={"contacts": [], "late": True}, delay=0.8)
    impatient = ConstantContactHook(max_retries=3, backoff_base=0.01, timeout=0.3)
    assert impatient.call_json("GET", "/contacts") == {"contacts": []}
    import time

    time.sleep(0.6)  # let the delayed answer finish before the next test resets the sandbox


def test_a_dropped_connection_is_retried(hook, cc_sandbox):
    add_fault(cc_sandbox, "/v3/contacts", 503, drop_connection=True)
    assert hook.call_json("GET", "/contacts") == {"contacts": []}


def test_tokens_expired_now_are_refreshed_once(hook, cc_sandbox):
    hook.call_json("GET", "/contacts")
    expire_tokens(cc_sandbox)
    hook.call_json("GET", "/contacts")
    assert sandbox_stats(cc_sandbox)["refreshes"] == 2


def test_the_clock_ages_tokens_and_the_hook_refreshes(hook, cc_sandbox):
    hook.call_json("GET", "/contacts")
    advance_clock(cc_sandbox, 86400 + 1)
    hook.call_json("GET", "/contacts")
    assert sandbox_stats(cc_sandbox)["refreshes"] == 2


def test_a_revoked_refresh_token_is_an_auth_error(hook, cc_sandbox):
    revoke_refresh_tokens(cc_sandbox)
    with pytest.raises(ConstantContactAuthError):
        hook.call_json("GET", "/contacts")


def test_the_hook_gets_through_the_real_rate_limits(cc_sandbox, cc_sandbox_connection, monkeypatch):
    # the session sandbox has no limits, so its connection turns the client's pacing off: turn both on
    conn = json.loads(cc_sandbox_connection)
    conn["extra"]["requests_per_second"] = 4
    monkeypatch.setenv(CONNECTION_ENV, json.dumps(conn))
    patch_config(cc_sandbox, rate_limit_per_second=4, token_rate_limit_per_second=1)
    hook = ConstantContactHook(backoff_base=0.01)
    for _ in range(8):
        hook.call_json("GET", "/contacts")
    assert sandbox_stats(cc_sandbox)["requests"]["GET /v3/contacts"] >= 8


def test_the_daily_quota_fails_fast(hook, cc_sandbox):
    patch_config(cc_sandbox, daily_quota=1)
    hook.call_json("GET", "/contacts")
    with pytest.raises(ConstantContactApiError) as err:
        hook.call_json("GET", "/contacts")
    assert err.value.status_code == 429
    assert sandbox_stats(cc_sandbox)["requests"]["GET /v3/contacts"] == 2  # no retry


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out", "suspended"])
def test_activity_fates_reach_the_hook(hook, cc_sandbox, state):
    add_activity_fault(cc_sandbox, state)
    body = wait_for(hook, new_import(hook), state)
    assert body["percent_done"] == 50


def test_an_activity_stuck_in_processing(hook, cc_sandbox):
    add_activity_fault(cc_sandbox, "processing", at_percent=25)
    activity_id = new_import(hook)
    assert wait_for(hook, activity_id, "processing")["percent_done"] == 25
    set_activity_state(cc_sandbox, activity_id, "cancelled")
    assert hook.get_activity(activity_id)["state"] == "cancelled"


def test_activities_expire_after_10_days(hook, cc_sandbox):
    activity_id = new_import(hook)
    advance_clock(cc_sandbox, 10 * 86400 + 1)
    with pytest.raises(ConstantContactError):
        hook.get_activity(activity_id)
