"""Opt-out and re-opt-in as the sources describe them, and the 50-list limit of a contact."""

from __future__ import annotations

import urllib.error

import pytest
import requests

from cc_sandbox.testing import admin_call, patch_config


def members(api, list_id: str) -> list[str]:
    return [c["email_address"]["address"] for c in api.all_pages("/contacts", "contacts", lists=list_id)]


def contact(api, contact_id: str) -> dict:
    body: dict = api.get(f"/contacts/{contact_id}", params={"include": "list_memberships"}).json()
    return body


def put(api, contact_id: str, permission: str, **fields) -> requests.Response:
    email = contact(api, contact_id)["email_address"]["address"]
    body = {"email_address": {"address": email, "permission_to_send": permission}, "update_source": "Account"}
    return api.put(f"/contacts/{contact_id}", json={**body, **fields})


def contact_unsubscribes(api, contact_id: str) -> dict:
    result: dict = admin_call(api.server, "POST", f"contacts/{contact_id}/unsubscribe")
    return result


def finish(api, response: requests.Response) -> dict:
    assert response.status_code == 201, response.text
    return api.wait_for_state(response.json()["activity_id"], "completed")


def test_an_account_unsubscribe_takes_the_contact_off_every_list(api):
    a, b = api.create_list("A")["list_id"], api.create_list("B")["list_id"]
    gone = api.seed_contact("gone@example.com", list_ids=[a, b])["contact_id"]
    api.seed_contact("stays@example.com", list_ids=[a])
    assert put(api, gone, "unsubscribed").status_code == 200
    body = contact(api, gone)
    assert body["list_memberships"] == []
    assert body["email_address"]["permission_to_send"] == "unsubscribed"
    assert body["email_address"]["opt_out_source"] == "Account"  # the account opted it out, through the API
    assert members(api, a) == ["stays@example.com"] and members(api, b) == []
    counts = api.get("/contact_lists", params={"include_membership_count": "all"}).json()["lists"]
    assert [lst["membership_count"] for lst in counts] == [1, 0]


def test_the_contacts_own_unsubscribe_has_opt_out_source_contact(api):
    lst = api.create_list("A")["list_id"]
    gone = api.seed_contact("gone@example.com", list_ids=[lst])["contact_id"]
    body = contact_unsubscribes(api, gone)
    assert body["email_address"]["opt_out_source"] == "Contact" and body["list_memberships"] == []
    assert members(api, lst) == []
    with pytest.raises(urllib.error.HTTPError) as raised:
        admin_call(api.server, "POST", "contacts/00000000-0000-4000-8000-000000000000/unsubscribe")
    assert raised.value.code == 404
    raised.value.close()


def test_a_put_cannot_resubscribe_a_contact_who_opted_out_itself(api):
    lst = api.create_list("A")["list_id"]
    gone = api.seed_contact("gone@example.com", list_ids=[lst])["contact_id"]
    contact_unsubscribes(api, gone)
    response = put(api, gone, "explicit", list_memberships=[lst], first_name="Still")
    assert response.status_code == 200  # the change is ignored, the rest of the PUT applies
    body = contact(api, gone)
    assert body["email_address"]["permission_to_send"] == "unsubscribed"
    assert body["email_address"]["opt_out_source"] == "Contact"
    assert body["list_memberships"] == [] and body["first_name"] == "Still"
    assert members(api, lst) == []


def test_a_put_resubscribes_a_contact_the_account_opted_out(api):
    lst = api.create_list("A")["list_id"]
    back = api.seed_contact("back@example.com", list_ids=[lst])["contact_id"]
    put(api, back, "unsubscribed")
    assert put(api, back, "explicit", list_memberships=[lst]).status_code == 200
    body = contact(api, back)
    assert body["email_address"]["permission_to_send"] == "explicit"
    assert "opt_out_source" not in body["email_address"] and "opt_out_date" not in body["email_address"]
    assert body["list_memberships"] == [lst]


@pytest.mark.parametrize("source", ["Contact", "Account"])
def test_an_import_cannot_put_an_unsubscribed_contact_back_on_a_list(api, source):
    lst = api.create_list("Promo")["list_id"]
    gone = api.seed_contact("gone@example.com", permission_to_send="unsubscribed", opt_out_source=source)
    assert gone["email_address"]["opt_out_source"] == source
    rows = [{"email": "gone@example.com", "first_name": "Gone"}, {"email": "new@example.com"}]
    body = api.wait_for_state(api.start_import(rows, [lst])["activity_id"], "completed")
    assert body["status"]["cannot_add_to_list_count"] == 1
    assert (body["status"]["error_count"], body["status"]["correctable_count"]) == (0, 0)
    assert members(api, lst) == ["new@example.com"]
    again = contact(api, gone["contact_id"])
    assert again["first_name"] == "Gone" and again["email_address"]["permission_to_send"] == "unsubscribed"


def test_a_seeded_unsubscribed_contact_is_on_no_list(api, sandbox):
    lst = api.create_list("A")["list_id"]
    body = api.seed_contact("gone@example.com", list_ids=[lst], permission_to_send="unsubscribed")
    assert body["list_memberships"] == [] and body["email_address"]["opt_out_source"] == "Contact"
    response = requests.post(
        f"{sandbox.url}/__sandbox__/contacts",
        json={"email": "x@example.com", "permission_to_send": "unsubscribed", "opt_out_source": "Robot"},
        timeout=10,
    )
    assert response.status_code == 400 and "opt_out_source" in response.text


def test_a_sign_up_form_opts_the_contact_back_in(api):
    a, b = api.create_list("A")["list_id"], api.create_list("B")["list_id"]
    gone = api.seed_contact("gone@example.com", list_ids=[a])["contact_id"]
    contact_unsubscribes(api, gone)
    response = api.post("/contacts/sign_up_form", json={"email_address": "gone@example.com", "list_memberships": [b]})
    assert response.status_code == 200 and response.json() == {"contact_id": gone, "action": "updated"}
    body = contact(api, gone)
    assert body["email_address"]["permission_to_send"] == "explicit"
    assert "opt_out_source" not in body["email_address"]
    assert body["list_memberships"] == [b]  # the lists it left stay left


def test_a_resubscribe_email_waits_for_the_contacts_confirmation(api, sandbox):
    a, b = api.create_list("A")["list_id"], api.create_list("B")["list_id"]
    gone = api.seed_contact("gone@example.com", list_ids=[a])["contact_id"]
    active = api.seed_contact("active@example.com")["contact_id"]
    contact_unsubscribes(api, gone)
    response = api.put(f"/contacts/resubscribe/{gone}", json={"list_ids": [b]})
    assert (response.status_code, response.content) == (200, b"")
    assert contact(api, gone)["email_address"]["permission_to_send"] == "unsubscribed"  # not until it confirms
    again = api.put(f"/contacts/resubscribe/{gone}", json={"list_ids": [b]})
    assert again.status_code == 409 and again.json()[0]["error_key"] == "contacts.api.conflict"  # only once
    body = admin_call(sandbox, "POST", f"contacts/{gone}/confirm_resubscribe")
    assert body["email_address"]["permission_to_send"] == "explicit" and body["list_memberships"] == [b]
    assert members(api, b) == ["gone@example.com"]
    confirm = requests.post(f"{sandbox.url}/__sandbox__/contacts/{gone}/confirm_resubscribe", timeout=10)
    assert confirm.status_code == 409  # nothing awaits confirmation any more
    assert api.put(f"/contacts/resubscribe/{active}", json={"list_ids": [b]}).status_code == 400  # subscribed
    assert api.put(f"/contacts/resubscribe/{gone}", json={}).status_code == 400
    assert api.put(f"/contacts/resubscribe/{gone}", json={"list_ids": ["nope"]}).status_code == 400
    assert (
        api.put("/contacts/resubscribe/00000000-0000-4000-8000-000000000000", json={"list_ids": [b]}).status_code == 404
    )


# -- 50 lists per contact (spec add_list_memberships: "Each contact can be a member of up to 50 lists"; S12)


def fifty_lists(api) -> list[str]:
    return [api.create_list(f"L{n}")["list_id"] for n in range(50)]


@pytest.mark.parametrize("reporting", ["error_count", "not_counted"])
def test_an_import_cannot_add_a_contact_to_a_51st_list(api, reporting):
    patch_config(api.server, list_full_reporting=reporting, activity_errors_style="line_numbers")
    lists = fifty_lists(api)
    extra = api.create_list("Extra")["list_id"]
    full = api.seed_contact("full@example.com", list_ids=lists)["contact_id"]
    assert len(contact(api, full)["list_memberships"]) == 50
    rows = [{"email": "full@example.com", "first_name": "Full"}, {"email": "new@example.com"}]
    body = api.wait_for_state(api.start_import(rows, [extra])["activity_id"], "completed")
    status = body["status"]
    if reporting == "error_count":
        assert (status["error_count"], status["correctable_count"], status["person_count"]) == (1, 0, 2)
        assert body["activity_errors"] == ["Line 1: The contact is already a member of 50 lists"]
    else:  # the contact is left off the list, and no counter or message says so
        assert (status["error_count"], status["correctable_count"], status["person_count"]) == (0, 0, 2)
        assert body["activity_errors"] == []
    after = contact(api, full)
    assert len(after["list_memberships"]) == 50 and extra not in after["list_memberships"]
    assert after["first_name"] == "Full"  # the row still updated the contact
    assert members(api, extra) == ["new@example.com"]


def test_add_list_memberships_stops_at_50_lists(api):
    lists = fifty_lists(api)
    extra = api.create_list("Extra")["list_id"]
    almost = api.seed_contact("almost@example.com", list_ids=lists[:49])["contact_id"]
    body = {"source": {"contact_ids": [almost]}, "list_ids": [lists[49], extra]}
    finish(api, api.post("/activities/add_list_memberships", json=body))
    memberships = contact(api, almost)["list_memberships"]
    assert len(memberships) == 50 and lists[49] in memberships and extra not in memberships


def test_put_post_and_sign_up_form_refuse_more_than_50_lists(api):
    lists = [*fifty_lists(api), api.create_list("Extra")["list_id"]]
    created = api.post(
        "/contacts",
        json={"email_address": {"address": "p@example.com"}, "create_source": "Account", "list_memberships": lists},
    )
    assert created.status_code == 400
    full = api.seed_contact("full@example.com", list_ids=lists[:50])["contact_id"]
    assert put(api, full, "implicit", list_memberships=lists).status_code == 400
    signup = api.post(
        "/contacts/sign_up_form", json={"email_address": "full@example.com", "list_memberships": [lists[50]]}
    )
    assert signup.status_code == 400 and "50 lists" in signup.json()[0]["error_message"]
    assert len(contact(api, full)["list_memberships"]) == 50


# -- source.all_active_contacts: false is the default (S1) and CC's SDKs always send it


@pytest.mark.parametrize("source_key", ["list_ids", "contact_ids"])
def test_all_active_contacts_false_beside_another_source_is_accepted(api, source_key):
    source, target = api.create_list("Source")["list_id"], api.create_list("Target")["list_id"]
    member = api.seed_contact("m@example.com", list_ids=[source])["contact_id"]
    ids = [source] if source_key == "list_ids" else [member]
    body = {"source": {source_key: ids, "all_active_contacts": False}, "list_ids": [target]}
    finish(api, api.post("/activities/add_list_memberships", json=body))
    assert members(api, target) == ["m@example.com"]


@pytest.mark.parametrize(
    "source",
    [{"all_active_contacts": False}, {"all_active_contacts": "yes"}, {"list_ids": ["LIST"], "all_active_contacts": 1}],
)
def test_all_active_contacts_must_be_a_boolean_and_false_alone_is_no_source(api, source):
    target = api.create_list("Target")["list_id"]
    source = {key: ([target] if value == ["LIST"] else value) for key, value in source.items()}
    response = api.post("/activities/add_list_memberships", json={"source": source, "list_ids": [target]})
    assert response.status_code == 400
