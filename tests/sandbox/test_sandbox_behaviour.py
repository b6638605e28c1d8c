"""Behaviour switches: each variant of what no source settles, observed through the API."""

from __future__ import annotations

import io
import re
import urllib.error

import pytest

from cc_sandbox.behaviour import SWITCHES
from cc_sandbox.testing import add_activity_fault, admin_call, advance_clock, patch_config

MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-05:00$")
SECONDS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def members(api, list_id: str) -> list[str]:
    return [c["email_address"]["address"] for c in api.all_pages("/contacts", "contacts", lists=list_id)]


def finish(api, response) -> dict:
    assert response.status_code == 201, response.text
    return api.wait_for_state(response.json()["activity_id"], "completed")


def imported(api, rows: list[dict], list_id: str) -> dict:
    return api.wait_for_state(api.start_import(rows, [list_id])["activity_id"], "completed")


BAD_ROWS = [
    {"email": "ok@example.com"},
    {"email": "bob@"},  # correctable
    {"email": "long@example.com", "first_name": "f" * 51},  # not correctable
    {"email": "born@example.com", "birthday_month": 13, "birthday_day": 1},  # correctable, a date
]


@pytest.mark.parametrize(
    "style, expected",
    [
        (
            "line_numbers",
            [
                "Line 2: Invalid email address 'bob@'",
                "Line 3: first_name is longer than 50 characters",
                "Line 4: Invalid birthday",
            ],
        ),
        ("none", []),
        ("free_text", ["3 contact(s) could not be imported."]),
    ],
)
def test_activity_errors_style(api, sandbox, style, expected):
    patch_config(sandbox, activity_errors_style=style)
    lst = api.create_list("L")["list_id"]
    body = imported(api, BAD_ROWS, lst)
    assert body["activity_errors"] == expected
    assert (body["status"]["correctable_count"], body["status"]["error_count"]) == (2, 1)  # counters in every style
    add_activity_fault(sandbox, "failed", errors=["The import service is down."])
    failed = api.wait_for_state(api.start_import([{"email": "x@example.com"}], [lst])["activity_id"], "failed")
    assert failed["activity_errors"] == ["The import service is down."]  # messages a fault sets show in every style


@pytest.mark.parametrize("style", ["line_numbers", "none", "free_text"])
def test_drop_field_imports_the_contact_without_the_bad_date(api, sandbox, style):
    patch_config(sandbox, bad_date_handling="drop_field", activity_errors_style=style)
    lst = api.create_list("L")["list_id"]
    rows = [{"email": "born@example.com", "first_name": "Born", "birthday_month": 13, "birthday_day": 1}]
    rows.append({"email": "wed@example.com", "anniversary": "yesterday", "job_title": "CTO"})
    body = imported(api, rows, lst)
    status = body["status"]
    assert (status["correctable_count"], status["error_count"], status["person_count"]) == (2, 0, 2)  # still reported
    assert members(api, lst) == ["born@example.com", "wed@example.com"]
    born, wed = api.get("/contacts").json()["contacts"]
    assert born["first_name"] == "Born" and "birthday_month" not in born and "birthday_day" not in born
    assert wed["job_title"] == "CTO" and "anniversary" not in wed
    assert (
        body["activity_errors"]
        == {
            "line_numbers": ["Line 1: Invalid birthday", "Line 2: Invalid anniversary 'yesterday'"],
            "none": [],
            "free_text": ["2 contact(s) were imported without an invalid birthday or anniversary."],
        }[style]
    )


def test_reject_row_leaves_the_contact_out(api, sandbox):
    patch_config(sandbox, bad_date_handling="reject_row")
    lst = api.create_list("L")["list_id"]
    body = imported(api, [{"email": "born@example.com", "birthday_month": 13, "birthday_day": 1}], lst)
    assert (body["status"]["correctable_count"], body["status"]["error_count"]) == (1, 0)
    assert members(api, lst) == [] and api.get("/contacts").json()["contacts"] == []


def test_a_bad_date_beside_a_non_correctable_error_is_rejected_even_with_drop_field(api, sandbox):
    patch_config(sandbox, bad_date_handling="drop_field")
    lst = api.create_list("L")["list_id"]
    row = {"email": "x@example.com", "first_name": "f" * 51, "birthday_month": 13, "birthday_day": 1}
    body = imported(api, [row], lst)
    assert (body["status"]["error_count"], body["status"]["correctable_count"]) == (1, 0)  # counted once
    assert members(api, lst) == []


@pytest.mark.parametrize("mode, person_count", [("all_rows", 4), ("imported_only", 1)])
def test_person_count_mode(api, sandbox, mode, person_count):
    patch_config(sandbox, person_count_mode=mode)
    lst = api.create_list("L")["list_id"]
    assert imported(api, BAD_ROWS, lst)["status"]["person_count"] == person_count


def test_person_count_imported_only_counts_a_row_imported_without_its_bad_date(api, sandbox):
    patch_config(sandbox, person_count_mode="imported_only", bad_date_handling="drop_field")
    lst = api.create_list("L")["list_id"]
    assert imported(api, BAD_ROWS, lst)["status"]["person_count"] == 2


@pytest.mark.parametrize("order", ["newest_first", "oldest_first", "unordered"])
def test_activities_order(api, sandbox, order):
    patch_config(sandbox, activities_order=order)
    lst = api.create_list("L")["list_id"]
    created = [api.start_import([{"email": f"a{n}@example.com"}], [lst])["activity_id"] for n in range(8)]
    listed = [a["activity_id"] for a in api.all_pages("/activities", "activities", limit=50)]
    paged = [a["activity_id"] for a in api.all_pages("/activities", "activities", limit=3)]
    assert paged == listed and sorted(listed) == sorted(created)  # pages never repeat or skip one
    if order == "newest_first":
        assert listed == created[::-1]
    elif order == "oldest_first":
        assert listed == created
    else:  # a deterministic shuffle: the same order every time, not the creation order either way
        assert listed not in (created, created[::-1])
        assert [a["activity_id"] for a in api.get("/activities").json()["activities"]] == listed


@pytest.mark.parametrize("variant", ["known", "zero", "absent"])
def test_initialized_total_count(api, sandbox, variant):
    patch_config(sandbox, initialized_total_count=variant, activity_start_delay=60)
    lst = api.create_list("L")["list_id"]
    member = api.seed_contact("m@example.com")["contact_id"]
    imports = api.start_import([{"email": f"a{n}@example.com"} for n in range(3)], [lst])
    memberships = api.post(
        "/activities/add_list_memberships", json={"source": {"contact_ids": [member]}, "list_ids": [lst]}
    ).json()
    expected = {"known": (3, 1), "zero": (0, 0), "absent": (None, None)}[variant]
    assert (imports["status"].get("items_total_count"), memberships["status"].get("items_total_count")) == expected
    assert api.activity(imports["activity_id"])["status"].get("items_total_count") == expected[0]
    patch_config(sandbox, activity_start_delay=0)
    advance_clock(sandbox, 61)
    api.session.headers["Authorization"] = f"Bearer {api.new_token()}"
    done = api.wait_for_state(imports["activity_id"], "completed")
    assert done["status"]["items_total_count"] == 3  # known once processing starts, in every variant


@pytest.mark.parametrize("variant", ["bumped", "not_bumped"])
def test_updated_at_on_unsubscribe(api, sandbox, variant):
    patch_config(sandbox, updated_at_on_unsubscribe=variant)
    contact_id = api.seed_contact("gone@example.com")["contact_id"]
    before = api.get(f"/contacts/{contact_id}").json()["updated_at"]
    mark = advance_clock(sandbox, 5)["now"]
    advance_clock(sandbox, 5)
    admin_call(sandbox, "POST", f"contacts/{contact_id}/unsubscribe")
    api.session.headers["Authorization"] = f"Bearer {api.new_token()}"
    after = api.get(f"/contacts/{contact_id}").json()
    assert (after["updated_at"] != before) is (variant == "bumped")
    found = [c["contact_id"] for c in api.get("/contacts", params={"updated_after": mark}).json()["contacts"]]
    assert found == ([contact_id] if variant == "bumped" else [])
    opted_out = api.get("/contacts", params={"optout_after": mark, "status": "unsubscribed"}).json()["contacts"]
    assert [c["contact_id"] for c in opted_out] == [contact_id]  # the opt-out filter finds it either way


@pytest.mark.parametrize("variant", ["bumped", "not_bumped"])
def test_updated_at_on_membership_change(api, sandbox, variant):
    patch_config(sandbox, updated_at_on_membership_change=variant)
    lst = api.create_list("L")["list_id"]
    contact_id = api.seed_contact("m@example.com")["contact_id"]
    stamps = [api.get(f"/contacts/{contact_id}").json()["updated_at"]]
    for kind in ("add_list_memberships", "remove_list_memberships"):
        advance_clock(sandbox, 5)
        finish(api, api.post(f"/activities/{kind}", json={"source": {"contact_ids": [contact_id]}, "list_ids": [lst]}))
        stamps.append(api.get(f"/contacts/{contact_id}").json()["updated_at"])
    assert len(set(stamps)) == (3 if variant == "bumped" else 1)


def test_list_names_case_sensitive(api, sandbox):
    patch_config(sandbox, list_name_case="sensitive")
    api.create_list("News")
    assert api.post("/contact_lists", json={"name": "news"}).status_code == 201
    assert [lst["name"] for lst in api.get("/contact_lists", params={"name": "NEWS"}).json()["lists"]] == []
    assert [lst["name"] for lst in api.get("/contact_lists", params={"name": "news"}).json()["lists"]] == ["news"]


def test_list_names_case_insensitive(api, sandbox):
    patch_config(sandbox, list_name_case="insensitive")
    news = api.create_list("News")
    conflict = api.post("/contact_lists", json={"name": "NEWS"})
    assert conflict.status_code == 409 and news["list_id"] in conflict.json()[0]["error_message"]
    other = api.create_list("Other")["list_id"]
    assert api.put(f"/contact_lists/{other}", json={"name": "news"}).status_code == 409
    assert api.put(f"/contact_lists/{news['list_id']}", json={"name": "NEWS"}).status_code == 200  # itself
    assert [lst["list_id"] for lst in api.get("/contact_lists", params={"name": "news"}).json()["lists"]] == [
        news["list_id"]
    ]


def upload(api, content: bytes, list_id: str):
    files = {"file": ("contacts.csv", io.BytesIO(content), "text/csv")}
    return api.post("/activities/contacts_file_import", files=files, data={"list_ids": list_id})


@pytest.mark.parametrize("variant", ["reject", "ignore"])
def test_unknown_csv_headers(api, sandbox, variant):
    patch_config(sandbox, unknown_csv_headers=variant)
    lst = api.create_list("L")["list_id"]
    response = upload(api, b"email,Favourite Colour,first_name\nx@example.com,blue,Xi\n", lst)
    if variant == "reject":
        assert response.status_code == 400 and "favourite colour" in response.json()[0]["error_message"]
        return
    done = finish(api, response)
    assert (done["status"]["error_count"], done["status"]["correctable_count"]) == (0, 0)
    (contact,) = api.get("/contacts").json()["contacts"]
    assert contact["first_name"] == "Xi" and members(api, lst) == ["x@example.com"]
    assert upload(api, b"Favourite Colour\nblue\n", lst).status_code == 400  # still needs email or sms_number


@pytest.mark.parametrize("key", ["too_many_requests", "throttled", "activities.queue_full"])
def test_queue_full_error_key(api, sandbox, key):
    patch_config(sandbox, queue_full_error_key=key, max_queued_activities=1, activity_start_delay=60)
    lst = api.create_list("L")["list_id"]
    api.start_import([{"email": "a@example.com"}], [lst])
    response = api.post(
        "/activities/contacts_json_import", json={"import_data": [{"email": "b@example.com"}], "list_ids": [lst]}
    )
    assert response.status_code == 429
    assert response.json() == {
        "error_key": key,
        "error_message": "Too many requests. You exceeded 1 queued activities for this user account.",
    }


def test_queue_full_error_key_is_never_quota_exceeded(sandbox):
    with pytest.raises(urllib.error.HTTPError) as raised:
        patch_config(sandbox, queue_full_error_key="quota_exceeded")
    assert raised.value.code == 400
    raised.value.close()


# -- timestamps: the spec's examples carry milliseconds (2016-01-23T13:48:44.108Z), contacts -05:00 offsets


def rendered(api) -> dict[str, str]:
    lst = api.create_list("Stamped")
    api.seed_contact("gone@example.com", permission_to_send="unsubscribed")
    contact = api.get("/contacts").json()["contacts"][0]
    activity = api.wait_for_state(
        api.start_import([{"email": "s@example.com"}], [lst["list_id"]])["activity_id"], "completed"
    )
    field = api.create_field("tier")
    return {
        "activity.created_at": activity["created_at"],
        "activity.completed_at": activity["completed_at"],
        "list.created_at": lst["created_at"],
        "list.updated_at": lst["updated_at"],
        "contact.created_at": contact["created_at"],
        "contact.updated_at": contact["updated_at"],
        "contact.email_address.updated_at": contact["email_address"]["updated_at"],
        "contact.email_address.opt_in_date": contact["email_address"]["opt_in_date"],
        "contact.email_address.opt_out_date": contact["email_address"]["opt_out_date"],
        "field.updated_at": field["updated_at"],
        "field.created_at": field["created_at"],
    }


def test_timestamps_as_the_spec_shows_them(api, sandbox):
    patch_config(sandbox, timestamp_style="spec")
    stamps = rendered(api)
    offsets = {"list.updated_at", "contact.created_at", "contact.updated_at", "contact.email_address.updated_at"}
    offsets.add("field.created_at")
    for name, value in stamps.items():
        assert (OFFSET if name in offsets else MILLIS_Z).match(value), (name, value)


@pytest.mark.parametrize("style, pattern", [("offset", OFFSET), ("seconds_z", SECONDS_Z)])
def test_timestamps_in_one_form(api, sandbox, style, pattern):
    patch_config(sandbox, timestamp_style=style)
    for name, value in rendered(api).items():
        assert pattern.match(value), (name, value)


@pytest.mark.parametrize("style", SWITCHES["timestamp_style"])
def test_a_rendered_timestamp_works_as_a_filter_bound(api, sandbox, style):
    patch_config(sandbox, timestamp_style=style)
    early = api.seed_contact("early@example.com")
    advance_clock(sandbox, 2)
    late = api.seed_contact("late@example.com")

    def emails(**params: str) -> list[str]:
        return [c["email_address"]["address"] for c in api.get("/contacts", params=params).json()["contacts"]]

    # A rendered stamp is rounded down (whole seconds for contacts), so "after" it may still hold the contact.
    assert emails(updated_after=early["updated_at"]) in (
        ["late@example.com"],
        ["early@example.com", "late@example.com"],
    )
    assert emails(updated_before=late["updated_at"]) == ["early@example.com"]
