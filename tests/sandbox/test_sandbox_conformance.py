"""Response bodies validated against the official Swagger 2.0 spec (read at test time, never shipped).

"Strict" validation also forbids properties the spec does not declare for that schema.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cc_v3_swagger.yaml"


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip(f"the Constant Contact spec is not available at {SPEC}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)["definitions"])


def _forbid_extra(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _forbid_extra(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_forbid_extra(item) for item in schema]
    return schema


_STRICT: dict[int, dict[str, Any]] = {}


def check(definitions: dict[str, Any], name: str, body: Any, *, strict: bool = True) -> None:
    """Validate ``body`` against ``#/definitions/<name>`` (Swagger 2.0 uses JSON Schema draft 4)."""
    defs = definitions
    if strict:
        defs = _STRICT.setdefault(id(definitions), _forbid_extra(copy.deepcopy(definitions)))
    validator = jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": defs})
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_strict_validation_rejects_undeclared_properties(definitions):
    with pytest.raises(AssertionError, match="bogus"):
        check(definitions, "ContactList", {"list_id": "x", "name": "n", "bogus": 1})
    with pytest.raises(AssertionError):
        check(definitions, "ContactListArray", {"lists": [{"name": "no id"}]})
    check(definitions, "ContactList", {"list_id": "x", "name": "n", "bogus": 1}, strict=False)


def test_contact_lists(api, definitions):
    created = api.create_list("Conformance", description="Checked against the spec")
    check(definitions, "ContactListPutPost", created)
    check(definitions, "ContactList", created)
    api.seed_contact("member@example.com", list_ids=[created["list_id"]])
    one = api.get(f"/contact_lists/{created['list_id']}", params={"include_membership_count": "all"}).json()
    check(definitions, "ContactList", one)
    api.create_list("Second")
    page = api.get(
        "/contact_lists", params={"limit": 1, "include_count": "true", "include_membership_count": "active"}
    ).json()
    assert "_links" in page
    check(definitions, "ContactListArray", page)
    check(definitions, "ContactListArray", api.get(page["_links"]["next"]["href"]).json())


def test_import_activity(api, definitions):
    lst = api.create_list("Import conformance")["list_id"]
    rows = [{"email": "ok@example.com", "first_name": "Ok"}, {"email": "broken@"}]
    posted = api.start_import(rows, [lst])
    check(definitions, "ActivityImport", posted, strict=False)  # its status omits items_completed_count
    check(definitions, "Activity", posted)
    done = api.wait_for_state(posted["activity_id"], "completed")
    assert done["activity_errors"]
    check(definitions, "Activity", done)
    check(definitions, "ActivityImport", done, strict=False)


def test_contacts(api, definitions):
    lst = api.create_list("Contacts conformance")["list_id"]
    api.seed_contact("gone@example.com", permission_to_send="unsubscribed")
    rows = [
        {
            "email": "full@example.com",
            "first_name": "Full",
            "last_name": "Record",
            "job_title": "Chef",
            "company_name": "Acme",
            "birthday_month": 4,
            "birthday_day": 9,
            "anniversary": "2020-01-31",
            "phone": "555-0100",
            "work_phone": "555-0101",
            "street": "1 Main St",
            "street2": "Apt 2",
            "city": "Springfield",
            "state": "MA",
            "zip": "01101",
            "country": "US",
            "cf:plan": "gold",
        },
        {"sms_number": "508-123-1235"},
    ]
    response = api.post(
        "/activities/contacts_json_import",
        json={"import_data": rows, "list_ids": [lst], "sms_permission_to_send": "explicit"},
    )
    api.wait_for_state(response.json()["activity_id"], "completed")
    include = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"
    page = api.get("/contacts", params={"limit": 2, "include_count": "true", "include": include}).json()
    assert "_links" in page and page["contacts_count"] == 3
    check(definitions, "Contacts", page)
    check(definitions, "Contacts", api.get(page["_links"]["next"]["href"]).json())
    check(definitions, "Contacts", api.get("/contacts").json())


def test_error_bodies(api, sandbox, definitions):
    import requests

    check(definitions, "AuthorizationErrorSchema", requests.get(api.url("/contacts"), timeout=10).json())
    api.create_list("Twice")
    check(definitions, "APIErrorSchema", api.post("/contact_lists", json={"name": "Twice"}).json())
    check(definitions, "APIErrorSchema", api.get("/activities/unknown").json())
    check(definitions, "APIErrorSchema", api.get("/contacts", params={"limit": 0}).json())
