"""/v3/contact_custom_fields: create, list, get, replace, delete; names used by cf: import columns."""

from __future__ import annotations

import pytest


def test_create_names_the_field_after_its_label(api):
    body = api.create_field("Favorite Color")
    assert (body["label"], body["name"], body["type"]) == ("Favorite Color", "Favorite_Color", "string")
    assert api.get(f"/contact_custom_fields/{body['custom_field_id']}").json() == body


def test_select_fields_carry_choices(api):
    response = api.post(
        "/contact_custom_fields",
        json={"label": "Size", "type": "single_select", "choices": [{"choice_label": "S"}, {"choice_label": "M"}]},
    )
    assert response.status_code == 201
    assert [c["choice_label"] for c in response.json()["choices"]] == ["S", "M"]


@pytest.mark.parametrize(
    "body", [{"type": "string"}, {"label": "x" * 51, "type": "string"}, {"label": "ok", "type": "colour"}]
)
def test_invalid_fields_are_400(api, body):
    assert api.post("/contact_custom_fields", json=body).status_code == 400


def test_duplicate_label_is_409(api):
    api.create_field("Plan")
    assert api.post("/contact_custom_fields", json={"label": "Plan", "type": "string"}).status_code == 409


def test_at_most_the_maximum_number_of_fields(api, sandbox):
    for n in range(sandbox.config.max_custom_fields):
        api.create_field(f"f{n}")
    assert api.post("/contact_custom_fields", json={"label": "one more", "type": "string"}).status_code == 400


def test_list_pages_through_fields(api):
    for n in range(3):
        api.create_field(f"field {n}")
    collected = api.all_pages("/contact_custom_fields", "custom_fields", limit=2)
    assert [f["label"] for f in collected] == ["field 0", "field 1", "field 2"]
    assert api.get("/contact_custom_fields", params={"limit": 101}).status_code == 400


def test_put_relabels_and_delete_removes_values(api):
    field = api.create_field("tier")
    lst = api.create_list("L")["list_id"]
    done = api.start_import([{"email": "a@example.com", "cf:tier": "gold"}], [lst])
    api.wait_for_state(done["activity_id"], "completed")
    renamed = api.put(f"/contact_custom_fields/{field['custom_field_id']}", json={"label": "level"}).json()
    assert (renamed["label"], renamed["name"]) == ("level", "level")
    assert (
        api.post(
            "/activities/contacts_json_import",
            json={"import_data": [{"email": "b@example.com", "cf:tier": "x"}], "list_ids": [lst]},
        ).status_code
        == 400
    )
    assert api.delete(f"/contact_custom_fields/{field['custom_field_id']}").status_code == 204
    (contact,) = api.get("/contacts", params={"include": "custom_fields"}).json()["contacts"]
    assert contact["custom_fields"] == []
    assert api.get(f"/contact_custom_fields/{field['custom_field_id']}").status_code == 404
