"""POST /v3/activities/contacts_file_import: multipart CSV, list_ids forms, 415s, headers, truncation."""

from __future__ import annotations

import io

import pytest
import requests

from cc_sandbox.testing import patch_config, sandbox_stats


def upload(api, content: bytes, list_ids, filename: str = "contacts.csv", **data):
    files = {"file": (filename, io.BytesIO(content), "text/csv")}
    return api.post("/activities/contacts_file_import", files=files, data={"list_ids": list_ids, **data})


def test_csv_import_counts_the_header_and_names_file_lines(api):
    lst = api.create_list("CSV")["list_id"]
    csv = b"email,first_name,birthday_month,birthday_day\na@example.com,Ann,4,9\nbroken@,Bob,,\nc@example.com,Cy,,\n"
    response = upload(api, csv, lst)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source_file_name"] == "contacts.csv"
    assert body["status"]["items_total_count"] == 4  # three contacts plus the header row
    done = api.wait_for_state(body["activity_id"], "completed")
    status = done["status"]
    assert (status["person_count"], status["correctable_count"], status["error_count"]) == (3, 1, 0)
    assert done["activity_errors"] == ["Line 3: Invalid email address 'broken@'"]
    ann = api.get("/contacts", params={"email": "a@example.com"}).json()["contacts"][0]
    assert (ann["first_name"], ann["birthday_month"]) == ("Ann", 4)


def test_list_ids_as_a_comma_separated_string_or_repeated_fields(api):
    a, b = api.create_list("A")["list_id"], api.create_list("B")["list_id"]
    for list_ids in (f"{a},{b}", [a, b]):
        body = upload(api, b"email\nx@example.com\n", list_ids).json()
        api.wait_for_state(body["activity_id"], "completed")
    (contact,) = api.get("/contacts", params={"include": "list_memberships"}).json()["contacts"]
    assert contact["list_memberships"] == [a, b]


def test_a_file_that_is_not_csv_is_415(api):
    lst = api.create_list("L")["list_id"]
    response = upload(api, b"email\nx@example.com\n", lst, filename="contacts.xlsx")
    assert response.status_code == 415
    assert "must be of type .csv" in response.json()[0]["error_message"]


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/json", "text/csv"])
def test_a_hand_set_content_type_is_415(api, content_type):
    lst = api.create_list("L")["list_id"]
    files = {"file": ("contacts.csv", io.BytesIO(b"email\nx@example.com\n"), "text/csv")}
    prepared = requests.Request(
        "POST", api.url("/activities/contacts_file_import"), files=files, data={"list_ids": lst}
    ).prepare()
    prepared.headers["Content-Type"] = content_type  # what a client that sets the header by hand sends
    prepared.headers["Authorization"] = api.session.headers["Authorization"]
    assert api.session.send(prepared, timeout=10).status_code == 415


@pytest.mark.parametrize(
    "csv, message",
    [
        (b"email,favourite_colour\nx@example.com,blue\n", "unsupported column"),
        (b"first_name\nAnn\n", "email or an sms_number"),
        (b"email,cf:tier\nx@example.com,gold\n", "cf:tier"),
        (b"", "empty"),
    ],
)
def test_bad_headers_are_400(api, csv, message):
    lst = api.create_list("L")["list_id"]
    response = upload(api, csv, lst)
    assert response.status_code == 400 and message in response.json()[0]["error_message"]


def test_missing_list_ids_or_file_are_400(api):
    assert upload(api, b"email\nx@example.com\n", "").status_code == 400
    lst = api.create_list("L")["list_id"]
    response = api.post("/activities/contacts_file_import", files={"list_ids": (None, lst)})
    assert response.status_code == 400


def test_lines_past_40000_are_dropped_and_counted(api, sandbox):
    patch_config(sandbox, activity_start_delay=60)
    lst = api.create_list("Big")["list_id"]
    csv = b"email\n" + b"".join(b"u%d@ex.io\n" % n for n in range(40_005))
    body = upload(api, csv, lst).json()
    assert body["status"]["items_total_count"] == 40_000  # header included
    stats = sandbox_stats(sandbox)
    assert (stats["truncations"], stats["contacts_dropped"]) == (1, 6)


def test_data_past_4_mb_is_dropped_at_a_line_boundary(api, sandbox):
    patch_config(sandbox, activity_start_delay=60)
    lst = api.create_list("Heavy")["list_id"]
    line = b"user%05d@example.com," + b"s" * 100 + b"\n"
    csv = b"email,street\n" + b"".join(line % n for n in range(39_000))
    limit = 4 * 1024 * 1024
    assert len(csv) > limit
    kept = csv[: csv.rfind(b"\n", 0, limit) + 1].count(b"\n") - 1
    body = upload(api, csv, lst).json()
    assert body["status"]["items_total_count"] == kept + 1
    assert sandbox_stats(sandbox)["contacts_dropped"] == 39_000 - kept


def test_cf_columns_keep_the_custom_field_names_case(api):
    lst = api.create_list("L")["list_id"]
    field = api.create_field("Favorite Color")
    assert field["name"] == "Favorite_Color"  # the label with underscores, case kept (S16)
    body = upload(api, b"EMAIL,cf:Favorite_Color\nx@example.com,blue\n", lst).json()
    api.wait_for_state(body["activity_id"], "completed")
    (contact,) = api.get("/contacts", params={"include": "custom_fields"}).json()["contacts"]
    assert contact["custom_fields"] == [{"custom_field_id": field["custom_field_id"], "value": "blue"}]
    response = upload(api, b"email,cf:favorite_color\nx@example.com,blue\n", lst)
    assert response.status_code == 400 and "cf:favorite_color" in response.json()[0]["error_message"]


def test_csv_emails_may_have_80_characters_not_81(api):
    lst = api.create_list("L")["list_id"]
    eighty, eighty_one = "x" * 68 + "@example.com", "y" * 69 + "@example.com"
    body = upload(api, f"email\n{eighty}\n{eighty_one}\n".encode(), lst).json()
    done = api.wait_for_state(body["activity_id"], "completed")
    assert (done["status"]["error_count"], done["status"]["correctable_count"]) == (1, 0)
    assert done["activity_errors"] == ["Line 3: email is longer than 80 characters"]
    assert [c["email_address"]["address"] for c in api.get("/contacts").json()["contacts"]] == [eighty]
