"""The list and JSON-import operators against the sandbox."""

from __future__ import annotations

import csv
import json

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from cc_provider.exceptions import ActivityFailedError, ConstantContactError, ContactsMissingError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.lists import ConstantContactCreateListOperator
from cc_provider.waiting import RESUME_KEY
from cc_sandbox.testing import admin_call, advance_clock, patch_config, sandbox_stats
from tests.integration.helpers import RecordingTaskInstance, wait_until


def test_create_list_is_idempotent(cc_sandbox, cc_connection):
    task = ConstantContactCreateListOperator(task_id="create", name="Weekly digest", description="d")
    first = task.execute({})
    second = task.execute({})
    assert first == second
    assert sandbox_stats(cc_sandbox)["requests"]["POST /v3/contact_lists"] == 1
    assert ConstantContactHook().find_list_by_name("Weekly digest")["list_id"] == first


def test_create_list_rejects_an_overlong_name(cc_connection):
    with pytest.raises(ValueError, match="1 to 255 characters"):
        ConstantContactCreateListOperator(task_id="create", name="x" * 256).execute({})


@pytest.fixture
def list_id(cc_connection) -> str:
    return ConstantContactHook().create_list("Import target")["list_id"]


def test_import_records_splits_rejects_and_pushes_activity_ids(cc_sandbox, list_id, tmp_path):
    contacts = [{"Email Address": f"u{i}@example.com", "First Name": f"U{i}"} for i in range(5)]
    contacts.insert(2, {"Email Address": "", "First Name": "Nobody"})
    ti = RecordingTaskInstance()
    task = ConstantContactImportJsonOperator(
        task_id="import",
        contacts=contacts,
        list_ids=[list_id],
        max_contacts_per_request=2,
        rejects_path=str(tmp_path / "rejects.csv"),
    )
    summary = task.execute({"ti": ti})
    assert (summary["rows_read"], summary["rows_rejected"], summary["rows_sent"], summary["requests"]) == (6, 1, 5, 3)
    assert ti.pushed["activity_ids"] == summary["activity_ids"]
    assert len(set(summary["activity_ids"])) == 3
    assert sandbox_stats(cc_sandbox)["import_posts"] == 3
    with open(tmp_path / "rejects.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["row_number", "column", "value", "reason"],
        ["3", "Email Address", "", "no email address (and no sms_number)"],
    ]
    assert "example.com" not in json.dumps(summary)  # counts and ids only: no contact data in XCom


def test_import_from_a_json_lines_file(cc_sandbox, list_id, tmp_path):
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(json.dumps({"email": f"f{i}@example.com"}) for i in range(4)) + "\n")
    summary = ConstantContactImportJsonOperator(task_id="import", path=str(path), list_ids=list_id).execute(
        {"ti": RecordingTaskInstance()}
    )
    assert (summary["rows_read"], summary["rows_sent"], summary["requests"]) == (4, 4, 1)
    assert summary["list_ids"] == [list_id]


def test_import_respects_the_byte_limit(cc_sandbox, list_id):
    contacts = [{"email": f"user{i}@example.com", "first_name": "x" * 40} for i in range(50)]
    summary = ConstantContactImportJsonOperator(
        task_id="import", contacts=contacts, list_ids=[list_id], max_request_bytes=1000
    ).execute({"ti": RecordingTaskInstance()})
    assert summary["rows_sent"] == 50
    assert summary["requests"] >= 50 * 60 // 1000
    assert sandbox_stats(cc_sandbox)["truncations"] == 0


def test_import_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of 'contacts' or 'path'"):
        ConstantContactImportJsonOperator(task_id="i", list_ids=["x"])
    with pytest.raises(ValueError, match="exactly one of 'contacts' or 'path'"):
        ConstantContactImportJsonOperator(task_id="i", list_ids=["x"], contacts=[], path="a.json")


def test_bad_file_names_the_file_and_line(cc_connection, list_id, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"email": "a@example.com"}\n{"email": \n')
    task = ConstantContactImportJsonOperator(task_id="import", path=str(path), list_ids=[list_id])
    with pytest.raises(ValueError, match=r"broken.jsonl: line 2"):
        task.execute({"ti": RecordingTaskInstance()})


class TestWaiting:
    """The operator looks at its activities once after posting, then defers only if one is still pending."""

    @pytest.fixture(autouse=True)
    def fast_retries(self, monkeypatch):
        monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)

    @pytest.fixture
    def pending(self, cc_sandbox) -> None:
        """New activities stay ``initialized`` for 30 s: still pending at the operator's first look."""
        patch_config(cc_sandbox, activity_start_delay=30)

    def test_waits_in_the_worker_and_reports_what_the_api_did_not_add(self, cc_sandbox, list_id):
        admin_call(cc_sandbox, "POST", "contacts", {"email": "gone@example.com", "permission_to_send": "unsubscribed"})
        contacts = [{"email": "ok@example.com"}, {"email": "gone@example.com"}, {"email": "fine@example.com"}]
        ti = RecordingTaskInstance()
        summary = ConstantContactImportJsonOperator(
            task_id="import",
            contacts=contacts,
            list_ids=[list_id],
            wait_for_completion=True,
            deferrable=False,
            poll_interval=0.05,
        ).execute({"ti": ti})
        (activity,) = summary["activities"]
        assert activity["state"] == "completed"
        assert activity["cannot_add_to_list_count"] == 1
        assert summary["rows_rejected_by_api"] == 0
        assert ti.pushed["activity_ids"] == summary["activity_ids"]
        assert ConstantContactHook().count_list_members(list_id) == 2

    def test_a_fast_activity_completes_without_deferral(self, cc_sandbox, list_id):
        patch_config(cc_sandbox, activity_start_delay=0, activity_rows_per_second=1_000_000)
        ti = RecordingTaskInstance()
        summary = ConstantContactImportJsonOperator(
            task_id="import",
            contacts=[{"email": "a@example.com"}, {"email": "b@example.com"}],
            list_ids=[list_id],
            wait_for_completion=True,
            deferrable=True,
        ).execute({"ti": ti})  # no TaskDeferred: the first look found the activity completed
        (activity,) = summary["activities"]
        assert activity["state"] == "completed" and activity["activity_id"] == summary["activity_ids"][0]
        assert summary["rows_sent"] == 2 and summary["rows_rejected_by_api"] == 0
        assert summary["members"] == {list_id: {"before": 0, "after": 2}}
        assert RESUME_KEY not in ti.pushed  # nothing kept for a resumption that never comes
        reads = sum(
            n for route, n in sandbox_stats(cc_sandbox)["requests"].items() if route.startswith("GET /v3/activ")
        )
        assert reads == 1  # one look
        assert ti.pushed["activity_ids"] == summary["activity_ids"]

    @pytest.mark.usefixtures("pending")
    def test_fail_on_errors_turns_api_rejections_into_a_failure(self, cc_sandbox, list_id):
        ti = RecordingTaskInstance()
        task = ConstantContactImportJsonOperator(
            task_id="import",
            contacts=[{"email": "a@example.com"}],
            list_ids=[list_id],
            wait_for_completion=True,
            deferrable=True,
            fail_on_errors=True,
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute({"ti": ti})
        (activity_id,) = deferred.value.trigger.activity_ids
        rejected = {
            "activity_id": activity_id,
            "state": "completed",
            "person_count": 0,
            "error_count": 1,
            "activity_errors": ["Line 1: Invalid email address"],
        }
        with pytest.raises(ActivityFailedError, match="fail_on_errors is set and 1 of 1 contact"):
            task.execute_complete({"ti": ti}, event={"status": "success", "message": "done", "activities": [rejected]})

    @pytest.mark.usefixtures("pending")
    def test_defers_after_recording_the_activity_ids(self, cc_sandbox, list_id):
        ti = RecordingTaskInstance()
        task = ConstantContactImportJsonOperator(
            task_id="import",
            contacts=[{"email": "a@example.com"}],
            list_ids=[list_id],
            wait_for_completion=True,
            deferrable=True,
            poll_interval=3,
            wait_timeout=120,
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute({"ti": ti})
        trigger = deferred.value.trigger
        assert trigger.activity_ids == ti.pushed["activity_ids"]  # pushed before the wait
        assert trigger.poll_interval == 3
        kept = ti.pushed[RESUME_KEY]  # kept for the resumed task
        assert (kept["activity_ids"], kept["done"]) == (trigger.activity_ids, {})
        assert kept["state"]["rows_sent"] == 1
        assert kept["state"]["members_before"] == {list_id: 0}
        assert "submission_summary" not in ti.pushed  # the one key replaces the old one
        done = {"activity_id": trigger.activity_ids[0], "state": "completed", "person_count": 1, "error_count": 0}
        event = {"status": "success", "message": "1 activity(ies) completed.", "activities": [done]}
        hook = ConstantContactHook()
        advance_clock(cc_sandbox, 31)  # the activity runs, as the trigger would have seen
        wait_until(lambda: hook.get_activity(trigger.activity_ids[0])["state"] == "completed")
        result = task.execute_complete({"ti": ti}, event=event)
        assert result["activities"] == [done] and result["rows_rejected_by_api"] == 0
        assert result["rows_sent"] == 1 and result["activity_ids"] == trigger.activity_ids
        assert result["members"] == {list_id: {"before": 0, "after": 1}}

    @pytest.mark.usefixtures("pending")  # the activity has not run when the event claims it has
    def test_a_success_event_is_not_believed_when_the_list_lacks_the_contacts(self, cc_sandbox, list_id):
        """Ground truth: a completed activity whose contacts are not on the list fails the task, with numbers."""
        ti = RecordingTaskInstance()
        task = ConstantContactImportJsonOperator(
            task_id="import",
            contacts=[{"email": "a@example.com"}, {"email": "b@example.com"}],
            list_ids=[list_id],
            wait_for_completion=True,
            deferrable=True,
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute({"ti": ti})
        (activity_id,) = deferred.value.trigger.activity_ids
        done = {"activity_id": activity_id, "state": "completed", "person_count": 2, "error_count": 0}
        with pytest.raises(
            ContactsMissingError, match=r"holds 0 contact\(s\) \(it held 0 before\): at least 2 missing"
        ):
            task.execute_complete({"ti": ti}, event={"status": "success", "message": "done", "activities": [done]})

    @pytest.mark.parametrize("status", ["error", "timeout", None])
    def test_execute_complete_raises_unless_success(self, status):
        task = ConstantContactImportJsonOperator(task_id="import", contacts=[], list_ids=["x"])
        event = None if status is None else {"status": status, "message": "it went wrong"}
        with pytest.raises((ActivityFailedError, AirflowSensorTimeout)):
            task.execute_complete({"ti": RecordingTaskInstance()}, event=event)

    def test_a_success_event_without_the_kept_summary_fails_and_says_what_to_do(self):
        # e.g. a task deferred by a provider version that kept its summary under another XCom key
        task = ConstantContactImportJsonOperator(task_id="import", contacts=[], list_ids=["x"])
        done = {"activity_id": "a1", "state": "completed", "person_count": 1, "error_count": 0}
        event = {"status": "success", "message": "1 activity(ies) completed.", "activities": [done]}
        with pytest.raises(ConstantContactError, match="resumed without the summary.*Clear the task to run it again"):
            task.execute_complete({"ti": RecordingTaskInstance()}, event=event)

    def test_bad_max_error_rate_is_rejected(self):
        with pytest.raises(ValueError, match="max_error_rate"):
            ConstantContactImportJsonOperator(task_id="i", contacts=[], list_ids=["x"], max_error_rate=5)
