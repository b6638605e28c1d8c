"""POST /v3/activities/contacts_json_import and GET /v3/activities/{id}: lifecycle, rows, limits."""

from __future__ import annotations

import json
import time

import pytest

from cc_sandbox.testing import patch_config, sandbox_stats


def contacts_in(api, list_id: str) -> list[dict]:
    return api.all_pages("/contacts", "contacts", lists=list_id, limit=500, include="list_memberships")


def test_post_returns_201_initialized(api):
    lst = api.create_list("Imports")["list_id"]
    body = api.start_import([{"email": "a@example.com"}], [lst])
    assert body["state"] == "initialized"
    assert body["percent_done"] == 0
    assert body["activity_errors"] == []
    assert body["status"] == {
        "items_total_count": 1,
        "items_completed_count": 0,
        "person_count": 0,
        "error_count": 0,
        "correctable_count": 0,
        "cannot_add_to_list_count": 0,
    }
    assert body["_links"] == {"self": {"href": f"/v3/activities/{body['activity_id']}"}}
    assert "started_at" not in body and "completed_at" not in body
    assert sandbox_stats(api.server)["import_posts"] == 1


def test_lifecycle_initialized_processing_completed(api, sandbox):
    patch_config(sandbox, activity_start_delay=0.3, activity_rows_per_second=200)
    lst = api.create_list("Lifecycle")["list_id"]
    rows = [{"email": f"user{n}@example.com", "first_name": f"User {n}"} for n in range(100)]
    rows[6] = {"email": "bob@"}
    rows[41] = {"first_name": "No address"}
    activity_id = api.start_import(rows, [lst])["activity_id"]
    seen: list[dict] = []
    members_while_processing: list[int] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = api.activity(activity_id)
        seen.append(body)
        if body["state"] == "completed":
            break
        if body["state"] == "processing":
            params = {"lists": lst, "include_count": "true", "limit": 1}
            members_while_processing.append(api.get("/contacts", params=params).json()["contacts_count"])
        time.sleep(0.02)
    assert any(0 < members < 98 for members in members_while_processing)  # rows land as they are processed
    states = [s["state"] for s in seen]
    assert states[0] == "initialized"
    assert states[-1] == "completed"
    assert states.index("processing") < states.index("completed")
    processing = [s for s in seen if s["state"] == "processing"]
    progress = [s["status"]["items_completed_count"] for s in processing]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)
    assert any(0 < s["percent_done"] < 100 for s in processing)
    final = seen[-1]
    assert final["percent_done"] == 100
    assert final["started_at"] and final["completed_at"]
    assert final["status"] == {  # both bad rows are correctable (bad email, no email), and in the file
        "items_total_count": 100,
        "items_completed_count": 100,
        "person_count": 100,
        "error_count": 0,
        "correctable_count": 2,
        "cannot_add_to_list_count": 0,
    }
    assert final["activity_errors"] == [
        "Line 7: Invalid email address 'bob@'",
        "Line 42: Missing email address or SMS number",
    ]
    assert len(contacts_in(api, lst)) == 98


@pytest.mark.parametrize(
    "row, message, counter",
    [
        ({"email": "two@@example.com"}, "Invalid email address", "correctable_count"),
        ({"email": "no-at.example.com"}, "Invalid email address", "correctable_count"),
        ({"email": "@example.com"}, "Invalid email address", "correctable_count"),
        ({"email": "user@localhost"}, "Invalid email address", "correctable_count"),
        ({"email": "sp ace@example.com"}, "Invalid email address", "correctable_count"),
        ({"first_name": "No address"}, "Missing email address or SMS number", "correctable_count"),
        ({"email": "ok@example.com", "birthday_month": 13, "birthday_day": 1}, "Invalid birthday", "correctable_count"),
        ({"email": "ok@example.com", "anniversary": "yesterday"}, "Invalid anniversary", "correctable_count"),
        ({"email": "x" * 39 + "@example.com"}, "email is longer than 50 characters", "error_count"),
        ({"email": "ok@example.com", "first_name": "f" * 51}, "first_name is longer than 50", "error_count"),
        ({"email": "ok@example.com", "street": "s" * 256}, "street is longer than 255", "error_count"),
    ],
)
def test_a_bad_row_counts_once_by_the_specs_definitions_and_names_the_line(api, row, message, counter):
    lst = api.create_list("Errors")["list_id"]
    activity_id = api.start_import([{"email": "fine@example.com"}, row], [lst])["activity_id"]
    body = api.wait_for_state(activity_id, "completed")
    other = "error_count" if counter == "correctable_count" else "correctable_count"
    assert (body["status"][counter], body["status"][other]) == (1, 0)
    assert body["status"]["person_count"] == 2  # "the total number of contacts in the import file"
    (error,) = body["activity_errors"]
    assert error.startswith(f"Line 2: {message}")
    assert [c["email_address"]["address"] for c in contacts_in(api, lst)] == ["fine@example.com"]


def test_json_import_emails_are_at_most_50_characters(api):
    lst = api.create_list("Long")["list_id"]
    fifty, fifty_one = "x" * 38 + "@example.com", "y" * 39 + "@example.com"
    assert (len(fifty), len(fifty_one)) == (50, 51)
    body = api.wait_for_state(
        api.start_import([{"email": fifty}, {"email": fifty_one}], [lst])["activity_id"], "completed"
    )
    assert (body["status"]["error_count"], body["status"]["correctable_count"]) == (1, 0)
    assert [c["email_address"]["address"] for c in contacts_in(api, lst)] == [fifty]


def test_a_custom_field_too_many_is_a_non_correctable_error(api):
    lst = api.create_list("Fields")["list_id"]
    names = [api.create_field(f"f{n}")["name"] for n in range(26)]
    row = {"email": "many@example.com", **{f"cf:{name}": "v" for name in names}}
    body = api.wait_for_state(api.start_import([row], [lst])["activity_id"], "completed")
    assert (body["status"]["error_count"], body["status"]["correctable_count"]) == (1, 0)
    assert body["activity_errors"] == ["Line 1: More than 25 custom fields"]


def test_existing_contacts_get_only_the_supplied_fields(api):
    first, second = api.create_list("First")["list_id"], api.create_list("Second")["list_id"]
    plan = api.create_field("plan")["custom_field_id"]
    done = api.start_import([{"email": "ann@example.com", "first_name": "Ann", "job_title": "CTO"}], [first])
    api.wait_for_state(done["activity_id"], "completed")
    again = api.start_import([{"email": "ANN@example.com", "last_name": "Lee", "cf:plan": "gold"}], [second])
    body = api.wait_for_state(again["activity_id"], "completed")
    assert body["status"]["person_count"] == 1
    (contact,) = api.get("/contacts", params={"include": "list_memberships,custom_fields"}).json()["contacts"]
    assert contact["email_address"]["address"] == "ann@example.com"
    assert (contact["first_name"], contact["last_name"], contact["job_title"]) == ("Ann", "Lee", "CTO")
    assert contact["list_memberships"] == [first, second]
    assert contact["custom_fields"] == [{"custom_field_id": plan, "value": "gold"}]
    assert contact["email_address"]["permission_to_send"] == "implicit"
    assert contact["email_address"]["opt_in_source"] == "Account"
    assert contact["create_source"] == "Account"


def test_unsubscribed_contacts_are_not_added_to_lists(api):
    lst = api.create_list("Promo")["list_id"]
    api.seed_contact("gone@example.com", permission_to_send="unsubscribed")
    rows = [{"email": "gone@example.com", "first_name": "Gone"}, {"email": "new@example.com"}]
    body = api.wait_for_state(api.start_import(rows, [lst])["activity_id"], "completed")
    assert body["status"]["cannot_add_to_list_count"] == 1
    assert body["status"]["person_count"] == 2
    assert body["status"]["error_count"] == 0
    assert [c["email_address"]["address"] for c in contacts_in(api, lst)] == ["new@example.com"]


def test_sms_only_rows_need_a_us_number_and_sms_permission(api):
    lst = api.create_list("SMS")["list_id"]
    response = api.post(
        "/activities/contacts_json_import", json={"import_data": [{"sms_number": "5081231235"}], "list_ids": [lst]}
    )
    assert response.status_code == 400
    response = api.post(
        "/activities/contacts_json_import",
        json={
            "import_data": [{"sms_number": "508-123-1235"}, {"sms_number": "+44 20 7946 0958"}],
            "list_ids": [lst],
            "sms_permission_to_send": "explicit",
        },
    )
    body = api.wait_for_state(response.json()["activity_id"], "completed")
    status = body["status"]
    assert (status["person_count"], status["error_count"], status["correctable_count"]) == (2, 1, 0)
    assert body["activity_errors"] == ["Line 2: Invalid SMS number '+44 20 7946 0958'"]


@pytest.mark.parametrize(
    "payload",
    [
        {"list_ids": ["LIST"]},
        {"import_data": [], "list_ids": ["LIST"]},
        {"import_data": [{"email": "a@example.com"}]},
        {"import_data": [{"email": "a@example.com"}], "list_ids": []},
        {"import_data": [{"email": "a@example.com"}], "list_ids": ["LIST"] + [f"x{n}" for n in range(50)]},
        {"import_data": [{"email": "a@example.com"}], "list_ids": ["6b1f9c1e-0000-4000-8000-000000000000"]},
        {"import_data": ["a@example.com"], "list_ids": ["LIST"]},
        {"import_data": [{"email": "a@example.com", "favourite_colour": "blue"}], "list_ids": ["LIST"]},
        {"import_data": [{"email": "a@example.com"}], "list_ids": ["LIST"], "sms_permission_to_send": "maybe"},
    ],
    ids=[
        "no-import-data",
        "empty-import-data",
        "no-list-ids",
        "empty-list-ids",
        "51-list-ids",
        "unknown-list",
        "row-not-object",
        "unknown-property",
        "bad-sms-permission",
    ],
)
def test_invalid_requests_are_400_validation_errors(api, payload):
    lst = api.create_list("Target")["list_id"]
    payload = json.loads(json.dumps(payload).replace('"LIST"', json.dumps(lst)))
    response = api.post("/activities/contacts_json_import", json=payload)
    assert response.status_code == 400, response.text
    assert response.json()[0]["error_key"] == "contacts.api.validation.error"
    assert sandbox_stats(api.server)["import_posts"] == 0


def test_non_json_content_type_is_415(api):
    lst = api.create_list("Target")["list_id"]
    payload = json.dumps({"import_data": [{"email": "a@example.com"}], "list_ids": [lst]})
    for content_type in ("text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = api.post("/activities/contacts_json_import", data=payload.encode(), headers=headers)
        assert response.status_code == 415
        assert isinstance(response.json(), list)


def test_unknown_activity_is_404(api):
    response = api.get("/activities/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json() == [
        {"error_key": "contacts.api.not_found", "error_message": "Resource not found for the activity_id provided"}
    ]


def test_only_the_first_40000_contacts_are_processed(api, sandbox):
    patch_config(sandbox, activity_rows_per_second=1_000_000)
    lst = api.create_list("Big")["list_id"]
    rows = [{"email": f"u{n}@ex.io"} for n in range(40_005)]
    body = api.start_import(rows, [lst])
    assert body["status"]["items_total_count"] == 40_000
    stats = sandbox_stats(sandbox)
    assert (stats["truncations"], stats["contacts_dropped"]) == (1, 5)
    done = api.wait_for_state(body["activity_id"], "completed")
    assert done["status"]["person_count"] == 40_000
    assert api.get("/contacts", params={"email": "u39999@ex.io"}).json()["contacts"]
    assert not api.get("/contacts", params={"email": "u40000@ex.io"}).json()["contacts"]


def test_only_contacts_within_the_first_4_mb_are_processed(api, sandbox):
    lst = api.create_list("Heavy")["list_id"]
    limit = 4 * 1024 * 1024
    items = [
        json.dumps({"email": f"u{n}@example.com", "first_name": "Zoë", "street": "s" * 120}) for n in range(30_000)
    ]
    head = '{"list_ids": ' + json.dumps([lst]) + ', "import_data": ['
    body, expected, size = head, 0, len(head.encode())
    for n, item in enumerate(items):
        size += len(item.encode()) + (2 if n else 0)  # ", " separator before every item but the first
        if size <= limit:
            expected += 1
    body = head + ", ".join(items) + "]}"
    assert len(body.encode()) > limit and 0 < expected < len(items)
    response = api.post(
        "/activities/contacts_json_import", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"]["items_total_count"] == expected
    stats = sandbox_stats(sandbox)
    assert (stats["truncations"], stats["contacts_dropped"]) == (1, len(items) - expected)


def test_small_imports_are_not_truncated(api, sandbox):
    lst = api.create_list("Small")["list_id"]
    api.start_import([{"email": f"s{n}@example.com"} for n in range(10)], [lst])
    stats = sandbox_stats(sandbox)
    assert (stats["truncations"], stats["contacts_dropped"]) == (0, 0)


def test_custom_field_columns_must_name_an_existing_field(api):
    lst = api.create_list("Fields")["list_id"]
    payload = {"import_data": [{"email": "a@example.com", "cf:tier": "gold"}], "list_ids": [lst]}
    response = api.post("/activities/contacts_json_import", json=payload)
    assert response.status_code == 400
    assert "cf:tier" in response.json()[0]["error_message"]
    api.create_field("tier")
    assert api.post("/activities/contacts_json_import", json=payload).status_code == 201


def test_addresses_flagged_for_signup_abuse_are_rejected_as_invalid(api, sandbox):
    """S27: an address with too many subscribe attempts is rejected as invalid, though its syntax is fine."""
    from cc_sandbox.testing import flag_emails, set_behaviour

    set_behaviour(sandbox, "documented")  # Line N messages
    assert flag_emails(sandbox, "Flagged@Example.com") == ["flagged@example.com"]
    lst = api.create_list("Flagged")["list_id"]
    rows = [{"email": "fine@example.com"}, {"email": "FLAGGED@example.com"}]
    done = api.wait_for_state(api.start_import(rows, [lst])["activity_id"], "completed")
    assert (done["status"]["error_count"], done["status"]["correctable_count"]) == (0, 1)
    assert done["activity_errors"] == ["Line 2: Invalid email address 'FLAGGED@example.com'"]
    assert [c["email_address"]["address"] for c in contacts_in(api, lst)] == ["fine@example.com"]


@pytest.mark.parametrize("payload", [{}, {"emails": "a@example.com"}, {"emails": [""]}, {"emails": [3]}])
def test_flagging_takes_a_list_of_addresses(api, sandbox, payload):
    response = api.session.post(f"{sandbox.url}/__sandbox__/flagged_emails", json=payload)
    assert response.status_code == 400
