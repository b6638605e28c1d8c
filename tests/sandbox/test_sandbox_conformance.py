"""Conformance: the checker that validates every response of this suite, and a tour of every endpoint.

The autouse fixture ``responses_conform`` (conftest.py) checks each response any sandbox sends during
any test of this folder; ``test_tour_of_every_endpoint`` makes sure each endpoint answers at least once
with its success status, so every one of them goes through that check.
"""

from __future__ import annotations

import base64
import hashlib
import io
from urllib.parse import parse_qs, urlsplit

import requests

from cc_sandbox.middleware import ObservedResponse
from cc_sandbox.testing import add_fault, patch_config


def observed(method: str, route: str, status: int, body: bytes, content_type: str = "application/json"):
    return ObservedResponse(method, route, route, status, {"content-type": content_type}, body)


def test_checker_rejects_undeclared_properties(spec_checker):
    assert spec_checker.check_definition("ContactList", {"list_id": str(_uuid()), "name": "n"}) == []
    problems = spec_checker.check_definition("ContactList", {"list_id": str(_uuid()), "name": "n", "bogus": 1})
    assert any("bogus" in problem for problem in problems)
    assert spec_checker.check_definition("ContactListArray", {"lists": [{"name": "no id"}]})


def test_checker_rejects_undeclared_statuses_and_wrong_envelopes(spec_checker):
    assert spec_checker.problems(observed("GET", "/v3/contact_lists", 418, b"[]"))
    assert spec_checker.problems(observed("GET", "/v3/contacts", 401, b'[{"error_key":"unauthorized"}]'))
    assert spec_checker.problems(observed("GET", "/v3/contacts", 400, b'{"error_key":"x","error_message":"y"}'))
    assert spec_checker.problems(observed("GET", "/v3/contacts", 400, b"[]"))
    assert spec_checker.problems(observed("GET", "/v3/activities/{activity_id}", 200, b'{"state": 1}'))
    # 429 is not declared on GET /contact_lists, but the gateway throttles every operation (a known gap).
    throttled = b'{"error_key":"throttled","error_message":"Too Many Requests"}'
    assert spec_checker.problems(observed("GET", "/v3/contact_lists", 429, throttled)) == []


def test_checker_skips_bodies_written_by_a_test(spec_checker):
    custom = ObservedResponse("GET", "/v3/activities/x", "/v3/activities/{activity_id}", 200, {}, b'{"a": 1}', True)
    assert spec_checker.problems(custom) == []


def _uuid():
    import uuid

    return uuid.uuid4()


def test_tour_of_every_endpoint(api, sandbox, responses_conform, spec_checker):
    """Call each endpoint of the issue once with its success status (and the main errors)."""
    patch_config(sandbox, activity_start_delay=0, activity_rows_per_second=1_000_000)
    # OAuth: authorize (PKCE), code exchange, device flow, refresh.
    cfg = sandbox.config
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect = requests.get(
        f"{sandbox.auth_base_url}/authorize",
        params={
            "client_id": cfg.client_id,
            "redirect_uri": cfg.redirect_uris[0],
            "response_type": "code",
            "scope": "contact_data offline_access",
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
    token = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": cfg.redirect_uris[0],
            "code_verifier": verifier,
            "client_id": cfg.client_id,
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    device = requests.post(
        f"{sandbox.auth_base_url}/device/authorize",
        data={"client_id": cfg.client_id, "scope": "contact_data"},
        timeout=10,
    ).json()
    assert requests.get(device["verification_uri_complete"], timeout=10).status_code == 200
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": cfg.client_id}
    assert requests.post(sandbox.token_url, data={**grant, "device_code": device["device_code"]}, timeout=10).ok

    # Lists.
    first = api.create_list("Tour")["list_id"]
    second = api.create_list("Tour 2")["list_id"]
    assert api.get("/contact_lists", params={"include_count": "true", "status": "all"}).status_code == 200
    assert api.get(f"/contact_lists/{first}", params={"include_membership_count": "all"}).status_code == 200
    assert api.put(f"/contact_lists/{first}", json={"name": "Tour renamed"}).status_code == 200
    assert api.put(f"/contact_lists/{first}", json={"name": "Tour 2"}).status_code == 409

    # Custom fields.
    field = api.create_field("tier")["custom_field_id"]
    assert api.get("/contact_custom_fields").status_code == 200
    assert api.get(f"/contact_custom_fields/{field}").status_code == 200
    assert api.put(f"/contact_custom_fields/{field}", json={"label": "tier"}).status_code == 200

    # Contacts.
    created = api.post(
        "/contacts",
        json={
            "email_address": {"address": "tour@example.com", "permission_to_send": "implicit"},
            "first_name": "Tour",
            "create_source": "Account",
            "custom_fields": [{"custom_field_id": field, "value": "gold"}],
            "phone_numbers": [{"phone_number": "555-0100", "kind": "home"}],
            "street_addresses": [{"kind": "work", "street": "1 Main St", "postal_code": "01101"}],
            "list_memberships": [first],
        },
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["contact_id"]
    assert (
        api.post(
            "/contacts", json={"email_address": {"address": "tour@example.com"}, "create_source": "Account"}
        ).status_code
        == 409
    )
    include = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"
    assert api.get(f"/contacts/{contact_id}", params={"include": include}).status_code == 200
    assert api.get("/contacts", params={"include": include, "include_count": "true"}).status_code == 200
    put = {"email_address": {"address": "tour@example.com"}, "last_name": "Guide", "update_source": "Account"}
    assert api.put(f"/contacts/{contact_id}", json=put).status_code == 200
    assert api.get("/contacts/counts", params={"include": "new_subscriber"}).status_code == 200
    signup = {"email_address": "signup@example.com", "list_memberships": [first]}
    assert api.post("/contacts/sign_up_form", json=signup).status_code == 201
    assert api.post("/contacts/sign_up_form", json=signup).status_code == 200

    # Activities.
    json_import = api.start_import([{"email": "json@example.com", "cf:tier": "silver"}], [first])
    files = {"file": ("contacts.csv", io.BytesIO(b"email,first_name\nfile@example.com,File\n"), "text/csv")}
    assert api.post("/activities/contacts_file_import", files=files, data={"list_ids": first}).status_code == 201
    membership = {"source": {"list_ids": [first]}, "list_ids": [second]}
    assert api.post("/activities/add_list_memberships", json=membership).status_code == 201
    assert api.post("/activities/remove_list_memberships", json=membership).status_code == 201
    export = api.post("/activities/contact_exports", json={"list_ids": [first]}).json()
    done = api.wait_for_state(export["activity_id"], "completed")
    csv_response = api.get(done["_links"]["results"]["href"], headers={"Accept": "text/csv"})
    assert csv_response.status_code == 200 and csv_response.text.startswith("email_address,")
    assert api.get("/activities", params={"limit": 2}).status_code == 200
    assert api.get("/activities", params={"state": "completed"}).status_code == 200
    assert api.get(f"/activities/{json_import['activity_id']}").status_code == 200
    assert api.post("/activities/contact_delete", json={"contact_ids": [contact_id]}).status_code == 201
    assert api.post("/activities/list_delete", json={"list_ids": [second]}).status_code == 201
    assert api.delete(f"/contact_lists/{first}").status_code == 202
    assert api.delete(f"/contacts/{api.seed_contact('gone@example.com')['contact_id']}").status_code == 204
    assert api.delete(f"/contact_custom_fields/{field}").status_code == 204

    # Errors of the gateway and of the service, with their default fault bodies.
    assert requests.get(api.url("/contacts"), timeout=10).status_code == 401
    for status in (429, 500, 503):
        add_fault(sandbox, "/v3/contacts", status)
        assert api.get("/contacts").status_code == status
    assert api.get("/nowhere").status_code == 404

    seen = {(r.method, r.route, r.status) for r in responses_conform}
    expected = {
        ("GET", "/oauth2/default/v1/authorize", 302),
        ("POST", "/oauth2/default/v1/token", 200),
        ("POST", "/oauth2/default/v1/device/authorize", 200),
        ("GET", "/activate", 200),
        ("POST", "/v3/contact_lists", 201),
        ("GET", "/v3/contact_lists", 200),
        ("GET", "/v3/contact_lists/{list_id}", 200),
        ("PUT", "/v3/contact_lists/{list_id}", 200),
        ("DELETE", "/v3/contact_lists/{list_id}", 202),
        ("POST", "/v3/contact_custom_fields", 201),
        ("GET", "/v3/contact_custom_fields", 200),
        ("GET", "/v3/contact_custom_fields/{custom_field_id}", 200),
        ("PUT", "/v3/contact_custom_fields/{custom_field_id}", 200),
        ("DELETE", "/v3/contact_custom_fields/{custom_field_id}", 204),
        ("POST", "/v3/contacts", 201),
        ("POST", "/v3/contacts", 409),
        ("GET", "/v3/contacts", 200),
        ("GET", "/v3/contacts/{contact_id}", 200),
        ("PUT", "/v3/contacts/{contact_id}", 200),
        ("DELETE", "/v3/contacts/{contact_id}", 204),
        ("GET", "/v3/contacts/counts", 200),
        ("POST", "/v3/contacts/sign_up_form", 201),
        ("POST", "/v3/contacts/sign_up_form", 200),
        ("POST", "/v3/activities/contacts_json_import", 201),
        ("POST", "/v3/activities/contacts_file_import", 201),
        ("POST", "/v3/activities/add_list_memberships", 201),
        ("POST", "/v3/activities/remove_list_memberships", 201),
        ("POST", "/v3/activities/contact_delete", 201),
        ("POST", "/v3/activities/list_delete", 201),
        ("POST", "/v3/activities/contact_exports", 201),
        ("GET", "/v3/contact_exports/{file_export_id}", 200),
        ("GET", "/v3/activities", 200),
        ("GET", "/v3/activities/{activity_id}", 200),
        ("GET", "/v3/contacts", 401),
        ("GET", "/v3/contacts", 429),
        ("GET", "/v3/contacts", 503),
    }
    assert expected <= seen, sorted(expected - seen)
