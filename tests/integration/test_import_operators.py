"""CSV and JSON import operators against the sandbox: checks, splitting, dry runs and exact accounting."""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest

from cc_provider.contacts import ContactFileError
from cc_provider.contacts.prepare import source_identity
from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.csv_import import ConstantContactImportCsvOperator
from cc_provider.operators.import_base import TooManyRejectsError
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_sandbox.testing import admin_call, sandbox_stats, set_activity_state
from tests.integration.helpers import RecordingTaskInstance

V2_HEADER = ["Email address", "First Name", "Last Name", "Birthday_Month", "Birthday_Day", "Zip/Postal Code"]
GOOD_ROWS = [[f"person{i}@example.com", f"First{i}", f"Last{i}", "5", "17", "02134"] for i in range(10)]
BAD_ROWS = [
    ["not-an-email", "Bad", "Email", "", "", ""],
    ["bday@example.com", "Bad", "Birthday", "13", "1", ""],
    ["PERSON0@example.com", "Dup", "Licate", "", "", ""],  # the same address as row 2, in another case
]


def write_csv(path, header, rows, delimiter=",", encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def read_rejects(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def hook(cc_connection, monkeypatch) -> ConstantContactHook:
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    return ConstantContactHook()


@pytest.fixture
def list_id(hook) -> str:
    return hook.create_list("Imports")["list_id"]


def run(task, ti=None):
    return task.execute({"ti": ti or RecordingTaskInstance()})


class TestCsvOperator:
    def test_v2_file_is_checked_split_uploaded_and_accounted_for(self, hook, list_id, cc_sandbox, tmp_path):
        path = write_csv(tmp_path / "contacts.csv", V2_HEADER, GOOD_ROWS + BAD_ROWS, delimiter=";")
        task = ConstantContactImportCsvOperator(
            task_id="import",
            path=path,
            list_ids=[list_id],
            rejects_path=str(tmp_path / "rejects.csv"),
            max_contacts_per_request=4,
            wait_for_completion=True,
            deferrable=False,
            poll_interval=0.05,
        )
        summary = run(task)
        assert (summary["rows_read"], summary["rows_valid"], summary["rows_rejected"]) == (13, 10, 3)
        assert summary["requests"] == 3  # 4 + 4 + 2 contacts
        assert (
            summary["rows_read"]
            == summary["rows_imported"] + summary["rows_rejected"] + summary["rows_rejected_by_api"]
        )
        assert summary["rows_imported"] == 10
        assert hook.count_list_members(list_id) == 10
        stats = sandbox_stats(cc_sandbox)
        assert stats["requests"]["POST /v3/activities/contacts_file_import"] == 3
        assert stats["truncations"] == 0
        # every upload carried the header: the API counts it in items_total_count
        assert sorted(a["items_total_count"] for a in summary["activities"]) == [3, 5, 5]
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert sorted(int(r["row_number"]) for r in rejects) == [12, 13, 14]
        assert {r["column"] for r in rejects} >= {"Email address", "Birthday_Month"}
        contact = hook.find_contact("person3@example.com")
        assert (contact["first_name"], contact["last_name"]) == ("First3", "Last3")

    def test_dry_run_counts_the_same_and_sends_nothing(self, hook, list_id, cc_sandbox, tmp_path):
        path = write_csv(tmp_path / "contacts.csv", V2_HEADER, GOOD_ROWS + BAD_ROWS)
        common = {"task_id": "import", "path": path, "list_ids": [list_id], "max_contacts_per_request": 4}
        dry = run(ConstantContactImportCsvOperator(dry_run=True, **common))
        assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0
        assert dry["dry_run"] is True and dry["rows_sent"] == 0
        real = run(ConstantContactImportCsvOperator(**common))
        for key in ("rows_read", "rows_valid", "rows_rejected", "requests", "bytes", "by_reason"):
            assert dry[key] == real[key], key
        assert sandbox_stats(cc_sandbox)["import_posts"] == 3

    def test_too_many_rejects_fails_before_any_upload(self, list_id, cc_sandbox, tmp_path):
        path = write_csv(tmp_path / "contacts.csv", V2_HEADER, GOOD_ROWS[:2] + BAD_ROWS[:2])
        task = ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id], max_reject_rate=0.25)
        with pytest.raises(TooManyRejectsError, match=r"2 of 4 rows \(50.0%\).*nothing was sent"):
            run(task)
        assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0

    def test_unknown_custom_field_fails_before_upload_unless_created(self, hook, list_id, cc_sandbox, tmp_path):
        path = write_csv(tmp_path / "cf.csv", ["email", "cf:favorite_color"], [["a@example.com", "blue"]])
        with pytest.raises(ConstantContactError, match="favorite_color"):
            run(ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id]))
        assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0
        summary = run(
            ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id], create_custom_fields=True)
        )
        assert summary["requests"] == 1
        assert "favorite_color" in hook.custom_field_names()

    def test_list_names_are_resolved_and_created(self, hook, cc_sandbox, tmp_path):
        hook.create_list("Existing")
        path = write_csv(tmp_path / "c.csv", ["email"], [["a@example.com"]])
        summary = run(ConstantContactImportCsvOperator(task_id="i", path=path, list_names=["Existing", "Brand new"]))
        assert len(summary["list_ids"]) == 2
        assert hook.find_list_by_name("Brand new")["list_id"] in summary["list_ids"]

    def test_latin1_file_is_read_with_a_warning(self, list_id, tmp_path):
        path = write_csv(
            tmp_path / "latin.csv", ["email", "first_name"], [["zoe@example.com", "Zoé"]], encoding="latin-1"
        )
        summary = run(ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id], dry_run=True))
        assert summary["rows_valid"] == 1
        assert any("UTF-8" in w or "utf-8" in w for w in summary["warnings"])

    def test_file_without_an_email_column_names_the_file(self, list_id, tmp_path):
        path = write_csv(tmp_path / "no_email.csv", ["name", "city"], [["A", "B"]])
        with pytest.raises(ContactFileError, match="no_email.csv"):
            run(ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id]))

    def test_api_line_errors_are_mapped_back_to_source_rows(self, hook, list_id, cc_sandbox, tmp_path):
        """The API's 'Line N' (N counts the header) lands in the rejects file under the source row."""
        from cc_sandbox.testing import patch_config

        patch_config(cc_sandbox, activity_start_delay=2.0)
        path = write_csv(tmp_path / "c.csv", V2_HEADER, [BAD_ROWS[0], *GOOD_ROWS[:3]])
        stop = threading.Event()

        def complete_with_an_error() -> None:
            while not stop.is_set():
                listed = hook.call_json("GET", "/activities", params={"limit": 5})["activities"]
                if listed:
                    set_activity_state(cc_sandbox, listed[0]["activity_id"], "completed", ["Line 3: Invalid birthday"])
                    return
                time.sleep(0.05)

        helper = threading.Thread(target=complete_with_an_error)
        helper.start()
        try:
            summary = run(
                ConstantContactImportCsvOperator(
                    task_id="i",
                    path=path,
                    list_ids=[list_id],
                    rejects_path=str(tmp_path / "rejects.csv"),
                    wait_for_completion=True,
                    deferrable=False,
                    poll_interval=0.1,
                )
            )
        finally:
            stop.set()
            helper.join()
            patch_config(cc_sandbox, activity_start_delay=0.05)
        assert summary["activities"][0]["activity_errors"] == ["Line 3: Invalid birthday"]
        rejects = read_rejects(tmp_path / "rejects.csv")
        # source row 2 was rejected locally; upload line 3 is the second contact sent, source row 4
        assert [(r["row_number"], r["reason"]) for r in rejects][-1] == ("4", "rejected by the API: Invalid birthday")


class TestJsonOperator:
    def test_records_with_exact_accounting(self, hook, list_id, cc_sandbox):
        admin_call(cc_sandbox, "POST", "contacts", {"email": "gone@example.com", "permission_to_send": "unsubscribed"})
        records = [{"email": f"j{i}@example.com", "first_name": "J"} for i in range(7)]
        records += [{"email": "gone@example.com"}, {"email": "bad@@example.com"}, {"email": "J0@example.com"}]
        summary = run(
            ConstantContactImportJsonOperator(
                task_id="i",
                contacts=records,
                list_ids=[list_id],
                max_contacts_per_request=3,
                wait_for_completion=True,
                deferrable=False,
                poll_interval=0.05,
            )
        )
        assert (summary["rows_read"], summary["rows_rejected"], summary["requests"]) == (10, 2, 3)
        assert (
            summary["rows_read"]
            == summary["rows_imported"] + summary["rows_rejected"] + summary["rows_rejected_by_api"]
        )
        assert summary["rows_not_added_unsubscribed"] == 1
        assert hook.count_list_members(list_id) == 7
        assert sandbox_stats(cc_sandbox)["truncations"] == 0

    def test_without_dedupe_the_contacts_the_api_merges_are_counted_once(self, hook, list_id):
        records = [{"email": "twice@example.com"}, {"email": "once@example.com"}, {"email": "TWICE@example.com"}]
        task = ConstantContactImportJsonOperator(
            task_id="i", contacts=records, list_ids=[list_id], dedupe=None, wait_for_completion=True, poll_interval=0.05
        )
        summary = run(task)
        assert (summary["rows_sent"], summary["contacts_sent"]) == (3, 2)
        assert (summary["rows_imported"], summary["contacts_imported"]) == (3, 2)  # rows, and the contacts they are
        assert summary["members"] == {list_id: {"before": 0, "after": 2}}

    def test_json_array_key_names_the_array_of_a_wrapper_object(self, hook, list_id, tmp_path):
        path = tmp_path / "export.json"
        people = [{"email": f"w{i}@example.com"} for i in range(3)]
        path.write_text(json.dumps({"contacts": people, "unsubscribed": [{"email": "not-me@example.com"}]}))
        task = ConstantContactImportJsonOperator(
            task_id="i",
            path=str(path),
            json_array_key="contacts",
            list_ids=[list_id],
            wait_for_completion=True,
            poll_interval=0.05,
        )
        summary = run(task)
        assert (summary["rows_read"], summary["rows_imported"]) == (3, 3)
        assert {c["email_address"]["address"] for c in hook.iter_contacts(lists=list_id)} == {
            p["email"] for p in people
        }
        # a retry with another key imports afresh
        assert source_identity(str(path), "unsubscribed") != source_identity(str(path), "contacts")

    def test_byte_limit_is_measured_on_the_sent_bodies(self, list_id, cc_sandbox):
        records = [{"email": f"user{i}@example.com", "first_name": "x" * 40} for i in range(50)]
        summary = run(
            ConstantContactImportJsonOperator(task_id="i", contacts=records, list_ids=[list_id], max_request_bytes=1000)
        )
        assert summary["requests"] >= 50 * 60 // 1000
        assert summary["bytes"] <= summary["requests"] * 1000
        assert sandbox_stats(cc_sandbox)["truncations"] == 0

    def test_jsonl_file_source(self, list_id, tmp_path):
        path = tmp_path / "c.jsonl"
        path.write_text("".join(json.dumps({"Email Address": f"f{i}@example.com"}) + "\n" for i in range(4)))
        summary = run(ConstantContactImportJsonOperator(task_id="i", path=str(path), list_ids=list_id))
        assert (summary["rows_read"], summary["rows_sent"], summary["requests"]) == (4, 4, 1)

    def test_needs_exactly_one_list_argument(self):
        with pytest.raises(ValueError, match="exactly one of 'list_ids' or 'list_names'"):
            ConstantContactImportJsonOperator(task_id="i", contacts=[])


class TestSmsNumbers:
    RECORDS = [{"email": "sms@example.com", "sms_number": "508-123-1234"}, {"email": "plain@example.com"}]

    def test_sms_numbers_need_the_permission_before_anything_is_sent(self, list_id, cc_sandbox):
        task = ConstantContactImportJsonOperator(task_id="i", contacts=self.RECORDS, list_ids=[list_id])
        with pytest.raises(ValueError, match="sms_permission_to_send='explicit'.*Nothing was sent"):
            run(task)
        assert sandbox_stats(cc_sandbox).get("import_posts", 0) == 0

    @pytest.mark.parametrize("operator", ["json", "csv"])
    def test_sms_numbers_import_with_the_permission(self, hook, list_id, cc_sandbox, tmp_path, operator):
        if operator == "json":
            task = ConstantContactImportJsonOperator(
                task_id="i", contacts=self.RECORDS, list_ids=[list_id], sms_permission_to_send="not_set"
            )
        else:
            rows = [[r["email"], r.get("sms_number", "")] for r in self.RECORDS]
            path = write_csv(tmp_path / "sms.csv", ["email", "sms_number"], rows)
            task = ConstantContactImportCsvOperator(
                task_id="i", path=path, list_ids=[list_id], sms_permission_to_send="not_set"
            )
        task.wait_for_completion, task.deferrable, task.poll_interval = True, False, 0.05
        summary = run(task)
        assert summary["rows_imported"] == 2
        assert hook.count_list_members(list_id) == 2


class TestLineage:
    def test_file_import_reports_the_file_and_the_lists(self, list_id, tmp_path, cc_connection):
        pytest.importorskip("airflow.providers.openlineage", reason="the openlineage provider is not installed")
        path = write_csv(tmp_path / "c.csv", ["email"], [["a@example.com"]])
        task = ConstantContactImportCsvOperator(task_id="i", path=path, list_ids=[list_id])
        run(task)
        lineage = task.get_openlineage_facets_on_complete(None)
        assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", path)]
        account = cc_connection["login"]  # no "account" extra: the API key names the account
        assert [(d.namespace, d.name) for d in lineage.outputs] == [
            (f"constantcontact://{account}", f"lists/{list_id}")
        ]

    def test_records_import_has_no_input_and_honours_the_account_extra(self, list_id, cc_connection, monkeypatch):
        pytest.importorskip("airflow.providers.openlineage", reason="the openlineage provider is not installed")
        conn = {**cc_connection, "extra": {**cc_connection["extra"], "account": "acme"}}
        monkeypatch.setenv("AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT", json.dumps(conn))
        task = ConstantContactImportJsonOperator(task_id="i", contacts=[{"email": "a@example.com"}], list_ids=[list_id])
        run(task)
        lineage = task.get_openlineage_facets_on_complete(None)
        assert lineage.inputs == []
        assert [(d.namespace, d.name) for d in lineage.outputs] == [("constantcontact://acme", f"lists/{list_id}")]
