"""The /__sandbox__ admin API: stats, faults, reset, settings and seeded contacts."""

from __future__ import annotations

import time

import pytest
import requests

from cc_sandbox.testing import add_fault, admin_call, patch_config, reset_sandbox, sandbox_stats


def admin(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/__sandbox__/{path}", timeout=10, **kwargs)


def test_stats_count_requests_by_route_template(api, sandbox):
    lst = api.create_list("Counted")["list_id"]
    api.get(f"/contact_lists/{lst}")
    api.get("/contact_lists/another-id")
    api.get("/activities/some-activity")
    requests.get(f"{sandbox.url}/nowhere", timeout=10)
    sandbox_stats(sandbox)  # admin calls are not counted
    stats = sandbox_stats(sandbox)
    assert stats["requests"] == {
        "POST /oauth2/default/v1/token": 1,
        "POST /v3/contact_lists": 1,
        "GET /v3/contact_lists/{list_id}": 2,
        "GET /v3/activities/{activity_id}": 1,
        "GET /nowhere": 1,
    }
    assert set(stats) >= {
        "tokens_issued",
        "refreshes",
        "truncations",
        "contacts_dropped",
        "import_posts",
        "faults_served",
    }


def test_faults_answer_the_next_count_requests_then_stop(api, sandbox):
    api.create_list("Still here")
    add_fault(sandbox, "/v3/contact_lists", 503, method="GET", count=2)
    for _ in range(2):
        response = api.get("/contact_lists")
        assert response.status_code == 503
        assert response.json() == [
            {"error_key": "server_error", "error_message": "Our internal service is temporarily unavailable."}
        ]
    assert api.get("/contact_lists").status_code == 200
    stats = sandbox_stats(sandbox)
    assert stats["faults_served"] == 2
    assert stats["requests"]["GET /v3/contact_lists"] == 3
    assert admin_call(sandbox, "GET", "faults") == {"faults": []}


def test_fault_method_and_path_must_match(api, sandbox):
    add_fault(sandbox, "/v3/contact_lists", 500, method="POST")
    assert api.get("/contact_lists").status_code == 200
    assert api.get("/contact_lists/x").status_code == 404  # exact path only
    assert api.post("/contact_lists", json={"name": "x"}).status_code == 500
    assert api.post("/contact_lists", json={"name": "x"}).status_code == 201


def test_fault_with_a_custom_body_and_headers(api, sandbox):
    body = {"activity_id": "x", "state": "failed"}
    add_fault(sandbox, "/v3/activities/x", 200, body=body, headers={"X-Sandbox": "yes"})
    response = api.get("/activities/x")
    assert (response.status_code, response.json(), response.headers["X-Sandbox"]) == (200, body, "yes")


def test_default_429_and_401_bodies_are_objects(api, sandbox):
    add_fault(sandbox, "/v3/contacts", 429)
    add_fault(sandbox, "/v3/contacts", 401)
    throttled = api.get("/contacts")
    assert (throttled.status_code, throttled.json()) == (
        429,
        {"error_key": "throttled", "error_message": "Too Many Requests"},
    )
    assert "Retry-After" not in throttled.headers
    unauthorized = api.get("/contacts")
    assert unauthorized.json() == {"error_key": "unauthorized", "error_message": "Unauthorized"}
    assert unauthorized.headers["WWW-Authenticate"] == "Bearer realm=api.cc.email"


def test_faults_work_on_the_token_endpoint(api, sandbox):
    add_fault(sandbox, "/oauth2/default/v1/token", 503)
    add_fault(sandbox, "/oauth2/default/v1/token", 429)
    cfg = sandbox.config
    grant = {"grant_type": "refresh_token", "refresh_token": cfg.refresh_token}
    auth = (cfg.client_id, cfg.client_secret)
    statuses = [requests.post(sandbox.token_url, data=grant, auth=auth, timeout=10) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 429, 200]
    assert "error" in statuses[0].json()


def test_drop_connection_closes_the_socket_without_an_answer(api, sandbox):
    add_fault(sandbox, "/v3/contact_lists", 503, drop_connection=True)
    with pytest.raises(requests.ConnectionError):
        api.get("/contact_lists")
    assert api.get("/contact_lists").status_code == 200
    assert sandbox_stats(sandbox)["faults_served"] == 1


def test_fault_delay_can_trigger_client_timeouts(api, sandbox):
    add_fault(sandbox, "/v3/contacts", 200, body={"contacts": []}, delay=0.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.get("/contacts", timeout=0.1)
    assert time.monotonic() - started < 0.5
    time.sleep(0.5)  # let the delayed answer finish before the next test resets the sandbox


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"path": "v3/contacts"},
        {"path": "/v3/contacts", "status": 99},
        {"path": "/v3/contacts", "count": 0},
        {"path": "/v3/contacts", "delay": -1},
        {"path": "/v3/contacts", "headers": {"a": 1}},
    ],
)
def test_bad_fault_specs_are_400(sandbox, spec):
    assert admin(sandbox, "POST", "faults", json=spec).status_code == 400


def test_faults_can_be_listed_and_cleared(api, sandbox):
    add_fault(sandbox, "/v3/contacts", 500, count=3)
    (fault,) = admin_call(sandbox, "GET", "faults")["faults"]
    assert (fault["path"], fault["status"], fault["remaining"], fault["method"]) == ("/v3/contacts", 500, 3, None)
    assert admin_call(sandbox, "DELETE", "faults") == {"cleared": 1}
    assert api.get("/contacts").status_code == 200


def test_reset_clears_data_stats_faults_and_settings(api, sandbox):
    lst = api.create_list("Old")["list_id"]
    api.start_import([{"email": "old@example.com"}], [lst])
    add_fault(sandbox, "/v3/contacts", 500)
    patch_config(sandbox, activity_start_delay=5)
    reset_sandbox(sandbox)
    assert sandbox_stats(sandbox)["requests"] == {}
    assert admin_call(sandbox, "GET", "faults") == {"faults": []}
    assert admin_call(sandbox, "GET", "config")["activity_start_delay"] == sandbox.config.activity_start_delay
    assert api.get("/contact_lists").json() == {"lists": []}
    assert api.get("/contacts").json() == {"contacts": []}
    assert api.get(f"/contact_lists/{lst}").status_code == 404
    assert api.new_token()  # the default client and refresh token survive


def test_config_can_be_read_and_patched(sandbox):
    config = admin_call(sandbox, "GET", "config")
    assert "jwt_secret" not in config
    assert config["client_id"] == "cc-sandbox-client-id"
    patched = patch_config(sandbox, activity_start_delay=1.5, activity_rows_per_second=10, access_token_ttl=60)
    assert (patched["activity_start_delay"], patched["activity_rows_per_second"], patched["access_token_ttl"]) == (
        1.5,
        10,
        60,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"client_secret": "x"},
        {"activity_start_delay": -1},
        {"activity_rows_per_second": 0},
        {"access_token_ttl": 0},
        {"access_token_ttl": "soon"},
        {"activity_errors_style": "verbose"},
        {"list_name_case": True},
        {"queue_full_error_key": ""},
        {"queue_full_error_key": "quota_exceeded"},
    ],
)
def test_bad_config_patches_are_400(sandbox, changes):
    assert admin(sandbox, "PATCH", "config", json=changes).status_code == 400


def test_seeded_contacts_are_created_then_updated(api, sandbox):
    lst = api.create_list("Seeded")["list_id"]
    created = admin(sandbox, "POST", "contacts", json={"email": "seed@example.com", "list_ids": [lst]})
    assert created.status_code == 201
    assert created.json()["list_memberships"] == [lst]
    updated = admin(
        sandbox, "POST", "contacts", json={"email": "SEED@example.com", "permission_to_send": "unsubscribed"}
    )
    assert updated.status_code == 200
    assert updated.json()["email_address"]["permission_to_send"] == "unsubscribed"
    assert admin(sandbox, "POST", "contacts", json={"email": "bad"}).status_code == 400
    assert admin(sandbox, "POST", "contacts", json={"email": "x@example.com", "list_ids": ["nope"]}).status_code == 400


def test_health(sandbox):
    assert admin(sandbox, "GET", "health").json() == {"status": "ok"}
