"""GET /v3/contacts: filters, sub-resources on request, counts and cursor pagination."""

from __future__ import annotations

import pytest


def emails(body) -> list[str]:
    return [contact["email_address"]["address"] for contact in body["contacts"]]


def test_contact_shape(api):
    lst = api.create_list("Shape")
    api.seed_contact("Dana@Example.com", first_name="Dana", last_name="Lang", list_ids=[lst["list_id"]])
    (contact,) = api.get("/contacts").json()["contacts"]
    assert set(contact) == {
        "contact_id",
        "email_address",
        "first_name",
        "last_name",
        "create_source",
        "update_source",
        "created_at",
        "updated_at",
    }
    assert set(contact["email_address"]) == {
        "address",
        "permission_to_send",
        "created_at",
        "updated_at",
        "opt_in_source",
        "opt_in_date",
        "confirm_status",
    }
    assert contact["email_address"]["address"] == "Dana@Example.com"
    with_lists = api.get("/contacts", params={"include": "list_memberships"}).json()["contacts"][0]
    assert with_lists["list_memberships"] == [lst["list_id"]]


def test_pagination_in_creation_order_with_a_total_count(api):
    addresses = [f"person{n}@example.com" for n in range(5)]
    for address in addresses:
        api.seed_contact(address)
    first = api.get("/contacts", params={"limit": 2, "include_count": "true"}).json()
    assert emails(first) == addresses[:2]
    assert first["contacts_count"] == 5
    assert first["_links"]["next"]["href"].startswith("/v3/contacts?cursor=")
    collected = api.all_pages("/contacts", "contacts", limit=2, include_count="true")
    assert [c["email_address"]["address"] for c in collected] == addresses
    assert "_links" not in api.get("/contacts", params={"limit": 5}).json()


def test_email_filter_is_exact_and_case_insensitive(api):
    api.seed_contact("ann@example.com")
    api.seed_contact("anne@example.com")
    body = api.get("/contacts", params={"email": "ANN@example.com", "include_count": "true"}).json()
    assert emails(body) == ["ann@example.com"]
    assert body["contacts_count"] == 1


def test_lists_filter_matches_any_of_the_lists(api):
    a, b, c = (api.create_list(name)["list_id"] for name in "ABC")
    api.seed_contact("in-a@example.com", list_ids=[a])
    api.seed_contact("in-b@example.com", list_ids=[b])
    api.seed_contact("in-c@example.com", list_ids=[c])
    assert emails(api.get("/contacts", params={"lists": f"{a},{b}"}).json()) == ["in-a@example.com", "in-b@example.com"]


def test_status_filter_and_the_default_without_deleted(api, sandbox):
    api.seed_contact("active@example.com")
    api.seed_contact("unsub@example.com", permission_to_send="unsubscribed")
    api.seed_contact("deleted@example.com")
    sandbox.state.contact_by_email("deleted@example.com").deleted_at = 1.0
    assert emails(api.get("/contacts").json()) == ["active@example.com", "unsub@example.com"]
    assert emails(api.get("/contacts", params={"status": "unsubscribed"}).json()) == ["unsub@example.com"]
    assert emails(api.get("/contacts", params={"status": "active,deleted"}).json()) == [
        "active@example.com",
        "deleted@example.com",
    ]
    assert len(api.get("/contacts", params={"status": "all"}).json()["contacts"]) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"status": "happy"},
        {"include": "everything"},
        {"lists": ",".join(f"id{n}" for n in range(26))},
        {"include_count": "1"},
    ],
)
def test_bad_query_parameters_are_400(api, params):
    response = api.get("/contacts", params=params)
    assert response.status_code == 400
    assert response.json()[0]["error_key"] == "contacts.api.validation.error"


def test_limit_500_is_accepted(api):
    assert api.get("/contacts", params={"limit": 500}).status_code == 200


def test_filters_travel_inside_the_cursor(api):
    lst = api.create_list("Filtered")["list_id"]
    for n in range(4):
        api.seed_contact(f"member{n}@example.com", list_ids=[lst])
        api.seed_contact(f"outsider{n}@example.com")
    collected = api.all_pages("/contacts", "contacts", limit=1, lists=lst, include="list_memberships")
    assert [c["email_address"]["address"] for c in collected] == [f"member{n}@example.com" for n in range(4)]
    assert all(c["list_memberships"] == [lst] for c in collected)
