"""--state FILE: a sandbox's state survives a restart (SQLite, standard library)."""

from __future__ import annotations

import sqlite3

import requests

from cc_sandbox import SandboxConfig, SandboxServer
from cc_sandbox.testing import register_client
from tests.sandbox.conftest import Api

FAST = {
    "activity_start_delay": 0.0,
    "activity_rows_per_second": 100_000.0,
    "token_rate_limit_per_second": 0.0,
    "rate_limit_per_second": 0.0,
    "daily_quota": 0,
}


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.sqlite"
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as server:
        api = Api(server)
        lst = api.create_list("Kept")["list_id"]
        field = api.create_field("tier")["custom_field_id"]
        activity_id = api.start_import([{"email": "kept@example.com", "cf:tier": "gold"}], [lst])["activity_id"]
        api.wait_for_state(activity_id, "completed")
        register_client(server, "rotating-app", client_secret="s", refresh_token="r0", refresh_token_mode="rotating")
        rotated = requests.post(
            server.token_url,
            auth=("rotating-app", "s"),
            data={"grant_type": "refresh_token", "refresh_token": "r0"},
            timeout=10,
        ).json()["refresh_token"]
        token = api.session.headers["Authorization"]
    assert sqlite3.connect(path).execute("SELECT count(*) FROM records WHERE kind = 'contact'").fetchone() == (1,)
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as again:
        session = requests.Session()
        session.headers["Authorization"] = token  # access tokens stay valid: the signing key is kept too
        base = again.api_base_url
        assert [x["name"] for x in session.get(f"{base}/contact_lists", timeout=10).json()["lists"]] == ["Kept"]
        (contact,) = session.get(
            f"{base}/contacts", params={"include": "custom_fields,list_memberships"}, timeout=10
        ).json()["contacts"]
        assert contact["list_memberships"] == [lst] and contact["custom_fields"] == [
            {"custom_field_id": field, "value": "gold"}
        ]
        assert session.get(f"{base}/activities/{activity_id}", timeout=10).json()["state"] == "completed"
        grant = {"grant_type": "refresh_token", "refresh_token": rotated}
        response = requests.post(again.token_url, auth=("rotating-app", "s"), data=grant, timeout=10)
        assert response.status_code == 200  # the rotated refresh token is the live one after the restart
        stats = requests.get(f"{again.url}/__sandbox__/stats", timeout=10).json()
        assert stats["import_posts"] == 1


def test_activities_keep_advancing_after_a_restart(tmp_path):
    path = tmp_path / "sandbox.sqlite"
    slow = {**FAST, "activity_start_delay": 0.3}
    with SandboxServer(SandboxConfig(**slow), state_file=path) as server:
        api = Api(server)
        lst = api.create_list("L")["list_id"]
        activity_id = api.start_import([{"email": "later@example.com"}], [lst])["activity_id"]
        assert api.activity(activity_id)["state"] == "initialized"
    with SandboxServer(SandboxConfig(**slow), state_file=path) as again:
        assert Api(again).wait_for_state(activity_id, "completed")["status"]["person_count"] == 1


def test_a_new_file_starts_empty_and_reset_is_kept(tmp_path):
    path = tmp_path / "fresh.sqlite"
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as server:
        api = Api(server)
        assert api.get("/contact_lists").json() == {"lists": []}
        api.create_list("Gone soon")
        requests.post(f"{server.url}/__sandbox__/reset", timeout=10)
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as again:
        assert Api(again).get("/contact_lists").json() == {"lists": []}


def test_opt_out_source_and_a_pending_resubscribe_survive_a_restart(tmp_path):
    path = tmp_path / "optout.sqlite"
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as server:
        api = Api(server)
        lst = api.create_list("L")["list_id"]
        contact_id = api.seed_contact("gone@example.com", permission_to_send="unsubscribed", opt_out_source="Account")[
            "contact_id"
        ]
        assert api.put(f"/contacts/resubscribe/{contact_id}", json={"list_ids": [lst]}).status_code == 200
    with SandboxServer(SandboxConfig(**FAST), state_file=path) as again:
        api = Api(again)
        assert api.get(f"/contacts/{contact_id}").json()["email_address"]["opt_out_source"] == "Account"
        assert api.put(f"/contacts/resubscribe/{contact_id}", json={"list_ids": [lst]}).status_code == 409
        confirmed = requests.post(f"{again.url}/__sandbox__/contacts/{contact_id}/confirm_resubscribe", timeout=10)
        assert confirmed.json()["list_memberships"] == [lst]
