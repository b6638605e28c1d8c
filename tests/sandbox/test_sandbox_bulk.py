"""Bulk activities: list memberships, contact and list deletes, exports and their CSV, activity listing, retention."""

from __future__ import annotations

import csv
import io

import pytest

from cc_sandbox.testing import admin_call, advance_clock, patch_config


def members(api, list_id: str) -> list[str]:
    return [c["email_address"]["address"] for c in api.all_pages("/contacts", "contacts", lists=list_id)]


def finish(api, response) -> dict:
    assert response.status_code == 201, response.text
    return api.wait_for_state(response.json()["activity_id"], "completed")


def test_add_and_remove_list_memberships(api):
    source, target = api.create_list("Source")["list_id"], api.create_list("Target")["list_id"]
    for n in range(3):
        api.seed_contact(f"m{n}@example.com", list_ids=[source])
    gone = api.seed_contact("gone@example.com", list_ids=[source])["contact_id"]
    excluded = api.get("/contacts", params={"email": "m2@example.com"}).json()["contacts"][0]["contact_id"]
    body = {"source": {"list_ids": [source]}, "exclude": {"contact_ids": [excluded]}, "list_ids": [target]}
    admin_call(api.server, "POST", f"contacts/{gone}/unsubscribe")  # it leaves the source list
    done = finish(api, api.post("/activities/add_list_memberships", json=body))
    assert done["status"] == {"items_total_count": 2, "items_completed_count": 2, "list_count": 1}
    assert members(api, target) == ["m0@example.com", "m1@example.com"]
    by_ids = {"source": {"contact_ids": [gone]}, "list_ids": [target]}
    done = finish(api, api.post("/activities/add_list_memberships", json=by_ids))
    assert done["status"]["items_total_count"] == 1
    assert members(api, target) == ["m0@example.com", "m1@example.com"]  # an unsubscribed contact joins no list
    finish(
        api,
        api.post(
            "/activities/remove_list_memberships", json={"source": {"all_active_contacts": True}, "list_ids": [target]}
        ),
    )
    assert members(api, target) == []


@pytest.mark.parametrize(
    "body",
    [
        {"source": {"list_ids": ["LIST"]}},
        {"source": {}, "list_ids": ["LIST"]},
        {"source": {"tag_ids": ["t"]}, "list_ids": ["LIST"]},
        {"source": {"contact_ids": ["nobody"]}, "list_ids": ["LIST"]},
        {"source": {"list_ids": ["LIST"], "all_active_contacts": True}, "list_ids": ["LIST"]},
    ],
)
def test_invalid_membership_bodies_are_400(api, body):
    lst = api.create_list("L")["list_id"]
    import json

    body = json.loads(json.dumps(body).replace('"LIST"', json.dumps(lst)))
    assert api.post("/activities/add_list_memberships", json=body).status_code == 400


def test_contact_delete_by_ids_and_by_lists(api):
    lst = api.create_list("L")["list_id"]
    one = api.seed_contact("one@example.com")["contact_id"]
    api.seed_contact("two@example.com", list_ids=[lst])
    api.seed_contact("three@example.com")
    finish(api, api.post("/activities/contact_delete", json={"contact_ids": [one]}))
    finish(api, api.post("/activities/contact_delete", json={"list_ids": [lst]}))
    assert [c["email_address"]["address"] for c in api.get("/contacts").json()["contacts"]] == ["three@example.com"]
    assert api.post("/activities/contact_delete", json={}).status_code == 400


def test_list_delete(api):
    lists = [api.create_list(f"L{n}")["list_id"] for n in range(2)]
    done = finish(api, api.post("/activities/list_delete", json={"list_ids": lists}))
    assert done["status"] == {"list_count": 2}
    assert api.get("/contact_lists").json()["lists"] == []


def test_export_writes_a_csv_with_the_requested_fields(api):
    lst = api.create_list("Export")["list_id"]
    api.create_field("tier")
    api.seed_contact("a@example.com", first_name="Ann", list_ids=[lst])
    api.seed_contact("b@example.com", list_ids=[lst], job_title="CTO")
    api.seed_contact("c@example.com")
    api.seed_contact("gone@example.com", list_ids=[lst], permission_to_send="unsubscribed")  # on no list
    patch_config(api.server, activity_start_delay=60)
    posted = api.post(
        "/activities/contact_exports", json={"list_ids": [lst], "fields": ["email_address", "first_name", "cf:tier"]}
    )
    body = posted.json()
    assert "results" not in body["_links"]
    assert api.get(f"/contact_exports/{body['activity_id']}").status_code == 404  # not ready yet
    patch_config(api.server, activity_start_delay=0)
    from cc_sandbox.testing import set_activity_state

    set_activity_state(api.server, body["activity_id"], "completed")
    done = api.activity(body["activity_id"])
    assert done["status"] == {"items_total_count": 2, "items_completed_count": 2}
    download = api.get(done["_links"]["results"]["href"])
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows == [["email_address", "first_name", "cf:tier"], ["a@example.com", "Ann", ""], ["b@example.com", "", ""]]


@pytest.mark.parametrize(
    "body",
    [
        {"fields": ["email_optout_date"]},
        {"fields": ["shoe_size"]},
        {"contact_ids": ["x"], "list_ids": ["y"]},
        {"status": "happy"},
        {"segment_id": 3},
    ],
)
def test_invalid_exports_are_400(api, body):
    assert api.post("/activities/contact_exports", json=body).status_code == 400


def test_activities_list_newest_first_with_state_filter_and_pages(api, sandbox):
    lst = api.create_list("L")["list_id"]
    ids = [api.start_import([{"email": f"a{n}@example.com"}], [lst])["activity_id"] for n in range(3)]
    for activity_id in ids:
        api.wait_for_state(activity_id, "completed")
    patch_config(sandbox, activity_start_delay=60)
    pending = api.start_import([{"email": "p@example.com"}], [lst])["activity_id"]
    listed = api.all_pages("/activities", "activities", limit=2)
    assert [a["activity_id"] for a in listed] == [pending, *reversed(ids)]
    completed = api.get("/activities", params={"state": "completed"}).json()["activities"]
    assert [a["activity_id"] for a in completed] == list(reversed(ids))
    assert api.get("/activities", params={"state": "initialized"}).status_code == 400


def test_activity_status_is_kept_10_days(api, sandbox):
    lst = api.create_list("L")["list_id"]
    activity_id = api.start_import([{"email": "old@example.com"}], [lst])["activity_id"]
    api.wait_for_state(activity_id, "completed")
    advance_clock(sandbox, 10 * 86400 + 60)
    api.session.headers["Authorization"] = f"Bearer {api.new_token()}"  # the old token expired meanwhile
    assert api.get(f"/activities/{activity_id}").status_code == 404
    assert api.get("/activities").json()["activities"] == []
