"""/v3/contact_lists: create, conflicts, validation, lookups, counts and cursor pagination."""

from __future__ import annotations

import re

import pytest

MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # the spec's ContactList.created_at
OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-05:00$")  # the spec's ContactList.updated_at
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_create_returns_201_with_the_list(api):
    body = api.create_list("Newsletter", description="Monthly news", favorite=True)
    assert UUID.match(body["list_id"])
    assert (body["name"], body["description"], body["favorite"]) == ("Newsletter", "Monthly news", True)
    assert MILLIS_Z.match(body["created_at"]) and OFFSET.match(body["updated_at"])
    assert "membership_count" not in body


def test_favorite_defaults_to_false(api):
    assert api.create_list("Plain")["favorite"] is False


def test_duplicate_name_is_409_with_an_array_body(api):
    api.create_list("Customers")
    response = api.post("/contact_lists", json={"name": "Customers"})
    assert response.status_code == 409
    (error,) = response.json()
    assert error["error_key"] == "contacts.api.conflict"
    assert "Customers" in error["error_message"]
    assert api.post("/contact_lists", json={"name": "customers"}).status_code == 201  # list_name_case=sensitive


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 42},
        {"name": "x" * 256},
        {"name": "ok", "favorite": "yes"},
        {"name": "ok", "description": "d" * 256},
        ["name"],
    ],
    ids=["missing", "empty", "blank", "not-a-string", "too-long", "bad-favorite", "long-description", "array"],
)
def test_invalid_bodies_are_400_validation_errors(api, body):
    response = api.post("/contact_lists", json=body)
    assert response.status_code == 400
    assert response.json()[0]["error_key"] == "contacts.api.validation.error"


def test_name_of_255_characters_is_accepted(api):
    assert api.create_list("n" * 255)["name"] == "n" * 255


def test_non_json_body_is_415_and_malformed_json_is_400(api):
    response = api.post("/contact_lists", data="name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert isinstance(response.json(), list)
    response = api.post("/contact_lists", data="{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_more_than_the_maximum_number_of_lists_is_400(api, sandbox):
    for n in range(sandbox.state.config.max_lists):
        sandbox.state.create_list(f"bulk {n}", None, False)
    response = api.post("/contact_lists", json={"name": "one too many"})
    assert response.status_code == 400
    assert "1000" in response.json()[0]["error_message"]


def test_get_one_list_and_404_for_unknown_ids(api):
    created = api.create_list("Members")
    response = api.get(f"/contact_lists/{created['list_id']}")
    assert response.status_code == 200
    assert response.json() == created
    missing = api.get("/contact_lists/4a3a0e7e-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()[0]["error_key"] == "contacts.api.not_found"


def test_name_filter_is_an_exact_match(api):
    api.create_list("VIP")
    api.create_list("VIP customers")
    api.create_list("vip")
    body = api.get("/contact_lists", params={"name": "VIP", "include_count": "true"}).json()
    assert [lst["name"] for lst in body["lists"]] == ["VIP"]
    assert body["lists_count"] == 1
    assert api.get("/contact_lists", params={"name": "nobody"}).json() == {"lists": []}


def test_membership_counts(api):
    first, second = api.create_list("A"), api.create_list("B")
    api.seed_contact("a1@example.com", list_ids=[first["list_id"], second["list_id"]])
    api.seed_contact("a2@example.com", list_ids=[first["list_id"]])
    api.seed_contact("held@example.com", list_ids=[first["list_id"]], permission_to_send="temp_hold")
    api.seed_contact("gone@example.com", list_ids=[first["list_id"]], permission_to_send="unsubscribed")  # on none
    counts = {
        mode: {
            lst["name"]: lst["membership_count"]
            for lst in api.get("/contact_lists", params={"include_membership_count": mode}).json()["lists"]
        }
        for mode in ("all", "active")
    }
    assert counts == {"all": {"A": 3, "B": 1}, "active": {"A": 2, "B": 1}}
    one = api.get(f"/contact_lists/{first['list_id']}", params={"include_membership_count": "active"}).json()
    assert one["membership_count"] == 2
    assert "membership_count" not in api.get("/contact_lists").json()["lists"][0]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"include_membership_count": "some"},
        {"include_count": "yes"},
        {"cursor": "not-a-cursor"},
        {"status": "gone"},
    ],
)
def test_bad_query_parameters_are_400(api, params):
    response = api.get("/contact_lists", params=params)
    assert response.status_code == 400
    assert response.json()[0]["error_key"] == "contacts.api.validation.error"


def test_limit_accepts_1_to_1000(api):
    api.create_list("Only")
    for limit in ("1", "1000"):
        assert api.get("/contact_lists", params={"limit": limit}).status_code == 200


def test_default_page_size_is_50(api, sandbox):
    for n in range(51):
        sandbox.state.create_list(f"list {n:02d}", None, False)
    body = api.get("/contact_lists").json()
    assert len(body["lists"]) == 50
    assert "next" in body["_links"]


def test_cursor_pagination_follows_links_until_they_are_absent(api):
    names = [f"list {n}" for n in range(7)]
    for name in names:
        api.create_list(name)
    pages = []
    response = api.get(
        "/contact_lists", params={"limit": 3, "include_count": "true", "include_membership_count": "all"}
    )
    while True:
        body = response.json()
        pages.append(body)
        if "_links" not in body:
            break
        href = body["_links"]["next"]["href"]
        assert href.startswith("/v3/contact_lists?cursor=")
        response = api.get(href)  # the href alone carries limit and filters
    assert [len(page["lists"]) for page in pages] == [3, 3, 1]
    assert [lst["name"] for page in pages for lst in page["lists"]] == names
    assert all(page["lists_count"] == 7 for page in pages)
    assert all("membership_count" in lst for page in pages for lst in page["lists"])


def test_exactly_full_last_page_has_no_links(api):
    for n in range(4):
        api.create_list(f"list {n}")
    first = api.get("/contact_lists", params={"limit": 2}).json()
    second = api.get(first["_links"]["next"]["href"]).json()
    assert len(second["lists"]) == 2
    assert "_links" not in second


def test_a_contacts_cursor_is_rejected_by_lists(api):
    for n in range(3):
        api.seed_contact(f"c{n}@example.com")
    href = api.get("/contacts", params={"limit": 1}).json()["_links"]["next"]["href"]
    cursor = href.split("cursor=", 1)[1]
    assert api.get("/contact_lists", params={"cursor": cursor}).status_code == 400


def test_put_replaces_name_description_and_favorite(api):
    lst = api.create_list("Old name", description="old", favorite=True)
    response = api.put(f"/contact_lists/{lst['list_id']}", json={"name": "New name"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["favorite"], "description" in body) == ("New name", False, False)
    assert api.put("/contact_lists/4a3a0e7e-0000-4000-8000-000000000000", json={"name": "x"}).status_code == 404


def test_put_to_a_name_in_use_is_409(api):
    api.create_list("Taken")
    lst = api.create_list("Mine")
    assert api.put(f"/contact_lists/{lst['list_id']}", json={"name": "Taken"}).status_code == 409
    assert api.put(f"/contact_lists/{lst['list_id']}", json={"name": "Mine"}).status_code == 200


def test_delete_is_202_with_a_location_and_an_activity(api):
    lst = api.create_list("Doomed")["list_id"]
    api.seed_contact("member@example.com", list_ids=[lst])
    response = api.delete(f"/contact_lists/{lst}")
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == f"/v3/activities/{body['activity_id']}"
    assert set(body) == {
        "activity_id",
        "state",
        "created_at",
        "updated_at",
        "percent_done",
        "activity_errors",
        "_links",
    }
    done = api.wait_for_state(body["activity_id"], "completed")
    assert done["status"] == {"list_count": 1}
    (member,) = api.get("/contacts", params={"include": "list_memberships"}).json()["contacts"]
    assert member["list_memberships"] == []
    assert api.get("/contact_lists").json() == {"lists": []}
    deleted = api.get("/contact_lists", params={"status": "deleted"}).json()["lists"]
    assert [d["list_id"] for d in deleted] == [lst] and deleted[0]["deleted_at"]
    assert api.delete(f"/contact_lists/{lst}").status_code == 404
    assert api.create_list("Doomed")["list_id"] != lst  # the name is free again
