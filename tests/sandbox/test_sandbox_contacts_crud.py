"""Single contacts: POST (409 includes deleted contacts), GET, PUT, DELETE, counts, sign_up_form, date filters."""

from __future__ import annotations

import pytest

from cc_sandbox.testing import advance_clock


def create(api, address: str, **fields):
    return api.post("/contacts", json={"email_address": {"address": address}, "create_source": "Account", **fields})


def test_post_creates_a_contact(api):
    lst = api.create_list("L")["list_id"]
    response = create(api, "new@example.com", first_name="New", list_memberships=[lst])
    assert response.status_code == 201
    body = response.json()
    assert body["email_address"]["address"] == "new@example.com" and body["first_name"] == "New"
    assert body["list_memberships"] == [lst] and body["create_source"] == "Account"


def test_post_with_an_existing_email_is_409_naming_the_contact_even_when_deleted(api):
    contact_id = create(api, "dup@example.com").json()["contact_id"]
    assert api.delete(f"/contacts/{contact_id}").status_code == 204
    response = create(api, "DUP@example.com")
    assert response.status_code == 409
    assert response.json() == [
        {"error_key": "contacts.api.conflict", "error_message": f"Email already exists for contact {contact_id}"}
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"email_address": {"address": "a@example.com"}},
        {"email_address": {"address": "a@example.com"}, "create_source": "Robot"},
        {"create_source": "Account"},
        {"email_address": {"address": "not-an-email"}, "create_source": "Account"},
        {
            "email_address": {"address": "a@example.com"},
            "create_source": "Account",
            "birthday_month": 13,
            "birthday_day": 1,
        },
        {"email_address": {"address": "a@example.com"}, "create_source": "Account", "list_memberships": ["nope"]},
    ],
)
def test_invalid_posts_are_400(api, body):
    response = api.post("/contacts", json=body)
    assert response.status_code == 400
    assert response.json()[0]["error_key"] == "contacts.api.validation.error"


def test_missing_create_source_message(api):
    response = api.post("/contacts", json={"email_address": {"address": "a@example.com"}})
    assert response.json()[0]["error_message"] == "create_source is missing, create_source does not have a valid value"


def test_get_one_contact_and_404(api):
    contact_id = create(api, "one@example.com", first_name="One").json()["contact_id"]
    body = api.get(f"/contacts/{contact_id}", params={"include": "list_memberships"}).json()
    assert body["first_name"] == "One" and body["list_memberships"] == []
    assert api.get("/contacts/00000000-0000-4000-8000-000000000000").status_code == 404


def test_put_replaces_core_fields_keeps_sub_resources_and_revives(api):
    lst = api.create_list("Kept")["list_id"]
    contact_id = create(api, "p@example.com", first_name="P", job_title="CTO", list_memberships=[lst]).json()[
        "contact_id"
    ]
    api.delete(f"/contacts/{contact_id}")
    body = {"email_address": {"address": "p@example.com"}, "last_name": "Q", "update_source": "Contact"}
    response = api.put(f"/contacts/{contact_id}", json=body)
    assert response.status_code == 200
    contact = api.get(f"/contacts/{contact_id}", params={"include": "list_memberships"}).json()
    assert ("first_name" not in contact, contact["last_name"], "job_title" not in contact) == (True, "Q", True)
    assert contact["list_memberships"] == [lst] and "deleted_at" not in contact
    assert contact["update_source"] == "Contact"
    other = create(api, "other@example.com").json()["contact_id"]
    clash = {"email_address": {"address": "p@example.com"}, "update_source": "Account"}
    assert api.put(f"/contacts/{other}", json=clash).status_code == 409
    assert api.put(f"/contacts/{other}", json={"first_name": "x"}).status_code == 400  # update_source required


def test_delete_is_204_and_hides_the_contact(api):
    contact_id = create(api, "del@example.com").json()["contact_id"]
    response = api.delete(f"/contacts/{contact_id}")
    assert (response.status_code, response.content) == (204, b"")
    assert api.get("/contacts").json()["contacts"] == []
    assert api.get(f"/contacts/{contact_id}").json()["deleted_at"]
    assert api.delete(f"/contacts/{contact_id}").status_code == 404


def test_counts(api):
    api.seed_contact("a@example.com", permission_to_send="explicit")
    api.seed_contact("b@example.com")
    api.seed_contact("c@example.com", permission_to_send="unsubscribed")
    api.seed_contact("d@example.com", permission_to_send="pending_confirmation")
    counts = api.get("/contacts/counts", params={"include": "new_subscriber"}).json()
    assert counts == {"total": 4, "explicit": 1, "implicit": 1, "pending": 1, "unsubscribed": 1, "new_subscriber": 2}
    assert "new_subscriber" not in api.get("/contacts/counts").json()


def test_sign_up_form_creates_then_updates_and_appends(api):
    a, b = api.create_list("A")["list_id"], api.create_list("B")["list_id"]
    created = api.post(
        "/contacts/sign_up_form", json={"email_address": "s@example.com", "first_name": "S", "list_memberships": [a]}
    )
    assert created.status_code == 201 and created.json()["action"] == "created"
    contact_id = created.json()["contact_id"]
    api.delete(f"/contacts/{contact_id}")
    updated = api.post(
        "/contacts/sign_up_form", json={"email_address": "S@example.com", "last_name": "T", "list_memberships": [b]}
    )
    assert updated.status_code == 200 and updated.json() == {"contact_id": contact_id, "action": "updated"}
    contact = api.get(f"/contacts/{contact_id}", params={"include": "list_memberships"}).json()
    assert (contact["first_name"], contact["last_name"], contact["list_memberships"]) == ("S", "T", [a, b])
    assert contact["email_address"]["permission_to_send"] == "explicit" and "deleted_at" not in contact
    assert api.post("/contacts/sign_up_form", json={"email_address": "x@example.com"}).status_code == 400


def test_updated_and_created_date_filters(api, sandbox):
    api.seed_contact("early@example.com")
    middle = advance_clock(sandbox, 5)["now"].replace("Z", ".000Z")
    advance_clock(sandbox, 5)
    api.seed_contact("late@example.com")

    def emails(params):
        return [c["email_address"]["address"] for c in api.get("/contacts", params=params).json()["contacts"]]

    assert emails({"updated_after": middle}) == ["late@example.com"]
    assert emails({"updated_before": middle}) == ["early@example.com"]
    assert emails({"created_after": middle, "created_before": "2999-01-01"}) == ["late@example.com"]
    assert api.get("/contacts", params={"updated_after": "yesterday"}).status_code == 400
