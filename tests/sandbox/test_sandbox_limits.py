"""The real API's limits: 4 requests a second and a daily quota per client id, 1 token request a second,
1,000 queued activities. The session sandbox has them off; these tests turn them on."""

from __future__ import annotations

import time

import requests

from cc_sandbox import SandboxConfig, SandboxServer
from cc_sandbox.testing import advance_clock, patch_config, register_client, sandbox_stats

THROTTLED = {"error_key": "throttled", "error_message": "Too Many Requests"}
QUOTA = {"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}


def test_defaults_are_the_real_limits():
    cfg = SandboxConfig()
    assert (cfg.rate_limit_per_second, cfg.daily_quota, cfg.token_rate_limit_per_second) == (4.0, 10_000, 1.0)
    assert cfg.max_queued_activities == 1000


def test_a_burst_past_4_a_second_is_throttled_then_recovers(api, sandbox):
    patch_config(sandbox, rate_limit_per_second=4)
    statuses = [api.get("/contact_lists").status_code for _ in range(6)]
    assert statuses[:4] == [200] * 4 and 429 in statuses[4:]
    throttled = api.get("/contact_lists")
    assert throttled.json() == THROTTLED  # an object, not an array
    assert "Retry-After" not in throttled.headers and not any(
        h.lower().startswith("x-ratelimit") for h in throttled.headers
    )
    deadline = time.monotonic() + 3
    while api.get("/contact_lists").status_code == 429:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sandbox_stats(sandbox)["throttled"] >= 2


def test_paced_requests_are_never_throttled(api, sandbox):
    patch_config(sandbox, rate_limit_per_second=4)
    for _ in range(8):
        assert api.get("/contacts").status_code == 200
        time.sleep(0.26)


def test_each_client_id_has_its_own_bucket(api, sandbox):
    patch_config(sandbox, rate_limit_per_second=2)
    register_client(sandbox, "other-app", client_secret="x", refresh_token="other-refresh")
    other = requests.post(
        sandbox.token_url,
        auth=("other-app", "x"),
        data={"grant_type": "refresh_token", "refresh_token": "other-refresh"},
        timeout=10,
    ).json()["access_token"]
    assert [api.get("/contacts").status_code for _ in range(3)][-1] == 429
    headers = {"Authorization": f"Bearer {other}"}
    assert requests.get(api.url("/contacts"), headers=headers, timeout=10).status_code == 200


def test_daily_quota_is_quota_exceeded_until_midnight_utc(api, sandbox):
    patch_config(sandbox, daily_quota=3)
    assert [api.get("/contacts").status_code for _ in range(3)] == [200] * 3
    over = api.get("/contacts")
    assert (over.status_code, over.json()) == (429, QUOTA)
    assert sandbox_stats(sandbox)["quota_exceeded"] == 1
    advance_clock(sandbox, 86400 - time.time() % 86400 + 1)  # just past the next 00:00 UTC
    assert api.get("/contacts").status_code == 200


def test_the_token_endpoint_allows_1_request_a_second(sandbox):
    patch_config(sandbox, token_rate_limit_per_second=1)
    cfg = sandbox.config
    grant = {"grant_type": "refresh_token", "refresh_token": cfg.refresh_token}
    auth = (cfg.client_id, cfg.client_secret)
    first, second = (requests.post(sandbox.token_url, data=grant, auth=auth, timeout=10) for _ in range(2))
    assert first.status_code == 200
    assert second.status_code == 429 and second.json()["error"] == "too_many_requests"
    time.sleep(1.0)
    assert requests.post(sandbox.token_url, data=grant, auth=auth, timeout=10).status_code == 200
    assert sandbox_stats(sandbox)["token_throttled"] == 1


def test_too_many_queued_activities_is_429(api, sandbox):
    patch_config(sandbox, max_queued_activities=2, activity_start_delay=60)
    lst = api.create_list("Queue")["list_id"]
    for n in range(2):
        api.start_import([{"email": f"q{n}@example.com"}], [lst])
    response = api.post(
        "/activities/contacts_json_import", json={"import_data": [{"email": "x@example.com"}], "list_ids": [lst]}
    )
    assert response.status_code == 429
    assert "queued activities" in response.json()["error_message"]
    assert api.post("/activities/list_delete", json={"list_ids": [lst]}).status_code == 429


def test_limits_can_be_on_from_the_start():
    with SandboxServer(SandboxConfig(rate_limit_per_second=1, token_rate_limit_per_second=0)) as server:
        cfg = server.config
        access = requests.post(
            server.token_url,
            auth=(cfg.client_id, cfg.client_secret),
            data={"grant_type": "refresh_token", "refresh_token": cfg.refresh_token},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        statuses = [
            requests.get(server.api_base_url + "/contacts", headers=headers, timeout=10).status_code for _ in range(2)
        ]
        assert statuses == [200, 429]
