"""Verify, remove-from-list and upsert operators against the sandbox."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import TaskDeferred

from cc_provider.contacts.uploads import iter_json_import_batches
from cc_provider.exceptions import ConstantContactError, ListVerificationError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.membership import ConstantContactRemoveFromListOperator, ConstantContactVerifyListOperator
from cc_provider.operators.upsert import ConstantContactUpsertContactOperator
from cc_provider.waiting import RESUME_KEY
from cc_sandbox.testing import add_fault, advance_clock, patch_config, sandbox_stats
from tests.integration.helpers import RecordingTaskInstance, wait_until

EMAILS = [f"member{i}@example.com" for i in range(5)]


@pytest.fixture
def hook(cc_connection, monkeypatch) -> ConstantContactHook:
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    return ConstantContactHook()


def filled_list(hook: ConstantContactHook, emails: list[str], name: str = "Members") -> str:
    list_id = hook.create_list(name)["list_id"]
    for batch in iter_json_import_batches([(n, {"email": e}) for n, e in enumerate(emails, 1)], [list_id]):
        activity_id = hook.submit_json_import(batch.body)["activity_id"]
        wait_until(lambda activity_id=activity_id: hook.get_activity(activity_id)["state"] == "completed")
    return list_id


class TestVerify:
    def test_passes_with_the_right_count_and_emails(self, hook):
        list_id = filled_list(hook, EMAILS)
        report = ConstantContactVerifyListOperator(
            task_id="verify", list_id=list_id, expected_count=5, expected_emails=[e.upper() for e in EMAILS]
        ).execute({})
        assert report["members"] == 5
        assert (report["missing_count"], report["unexpected_count"]) == (0, 0)

    def test_reports_missing_and_unexpected_addresses(self, hook, tmp_path):
        list_id = filled_list(hook, EMAILS)
        expected = tmp_path / "expected.txt"
        expected.write_text("\n".join([*EMAILS[:4], "absent@example.com"]) + "\n")
        task = ConstantContactVerifyListOperator(task_id="verify", list_id=list_id, expected_emails=str(expected))
        with pytest.raises(ListVerificationError) as err:
            task.execute({})
        message = str(err.value)
        assert "1 expected address(es) missing (e.g. ['absent@example.com'])" in message
        assert "1 unexpected (e.g. ['member4@example.com'])" in message

    def test_wrong_count_fails(self, hook):
        list_id = filled_list(hook, EMAILS)
        with pytest.raises(ListVerificationError, match="it has 5 members, expected 6"):
            ConstantContactVerifyListOperator(task_id="verify", list_id=list_id, expected_count=6).execute({})

    def test_large_lists_are_sampled_one_address_at_a_time(self, hook, cc_sandbox):
        list_id = filled_list(hook, EMAILS)
        task = ConstantContactVerifyListOperator(
            task_id="verify",
            list_id=list_id,
            expected_emails=[*EMAILS[:2], "absent@example.com"],
            max_members_scanned=1,
            sample_size=3,
        )
        with pytest.raises(ListVerificationError, match="1 expected address"):
            task.execute({})
        assert sandbox_stats(cc_sandbox)["requests"]["GET /v3/contacts"] == 1 + 3  # the count, then 3 look-ups

    def test_needs_an_expectation(self):
        with pytest.raises(ValueError, match="expected_count, expected_emails or both"):
            ConstantContactVerifyListOperator(task_id="verify", list_id="x")


class TestRemove:
    def test_removes_in_activities_of_at_most_500_and_waits(self, hook, cc_sandbox):
        emails = [f"bulk{i}@example.com" for i in range(503)]
        list_id = filled_list(hook, emails, "Bulk")
        ids = [c["contact_id"] for c in hook.iter_contacts(lists=list_id)]
        result = ConstantContactRemoveFromListOperator(
            task_id="remove", list_ids=list_id, contact_ids=ids[:501], deferrable=False, poll_interval=0.05
        ).execute({"ti": RecordingTaskInstance()})
        assert result["contacts"] == 501
        assert len(result["activity_ids"]) == 2
        assert hook.count_list_members(list_id) == 2
        assert sandbox_stats(cc_sandbox)["requests"]["POST /v3/activities/remove_list_memberships"] == 2

    def test_deferred_removal_returns_its_result_after_the_event(self, hook, cc_sandbox):
        list_id = filled_list(hook, EMAILS)
        ids = [c["contact_id"] for c in hook.iter_contacts(lists=list_id)]
        patch_config(cc_sandbox, activity_start_delay=30)  # still pending at the operator's first look
        ti = RecordingTaskInstance()
        task = ConstantContactRemoveFromListOperator(
            task_id="remove", list_ids=list_id, contact_ids=ids[:2], deferrable=True, poll_interval=5
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute({"ti": ti})
        (activity_id,) = deferred.value.trigger.activity_ids
        result = {"activity_ids": [activity_id], "contacts": 2}
        assert ti.pushed[RESUME_KEY] == {"state": result, "activity_ids": [activity_id], "done": {}}
        assert "removal" not in ti.pushed  # the one resume key replaces the operator's own
        done = {"activity_id": activity_id, "state": "completed"}
        event = {"status": "success", "message": "ok", "activities": [done]}
        assert task.execute_complete({"ti": ti}, event=event) == result

    def test_a_fast_removal_completes_without_deferral(self, hook, cc_sandbox):
        list_id = filled_list(hook, EMAILS)
        ids = [c["contact_id"] for c in hook.iter_contacts(lists=list_id)]
        patch_config(cc_sandbox, activity_start_delay=0, activity_rows_per_second=1_000_000)
        ti = RecordingTaskInstance()
        result = ConstantContactRemoveFromListOperator(
            task_id="remove", list_ids=list_id, contact_ids=ids[:2], deferrable=True
        ).execute({"ti": ti})  # no TaskDeferred: the first look found the activity completed
        assert result["contacts"] == 2 and len(result["activity_ids"]) == 1
        assert ti.pushed == {}
        assert hook.count_list_members(list_id) == 3


class TestUpsert:
    def test_creates_updates_and_reports_rejects(self, hook, cc_sandbox):
        list_id = filled_list(hook, EMAILS[:1])
        result = ConstantContactUpsertContactOperator(
            task_id="upsert",
            list_ids=[list_id],
            contacts=[
                {"email": EMAILS[0], "first_name": "Again"},
                {"email": "new@example.com", "first_name": "New", "city": "Lyon"},
                {"first_name": "No email"},
            ],
        ).execute({})
        assert (result["created"], result["updated"]) == (1, 1)
        assert result["rejected"] == [{"row_number": 3, "reason": result["rejected"][0]["reason"]}]
        assert hook.count_list_members(list_id) == 2
        assert hook.find_contact("new@example.com")["first_name"] == "New"

    def test_concurrent_update_409_is_retried(self, hook, cc_sandbox):
        list_id = hook.create_list("Upserts")["list_id"]
        add_fault(cc_sandbox, "/v3/contacts/sign_up_form", 409, count=1)
        result = ConstantContactUpsertContactOperator(
            task_id="upsert", list_ids=list_id, contacts=[{"email": "race@example.com"}]
        ).execute({})
        assert result["created"] == 1
        assert sandbox_stats(cc_sandbox)["requests"]["POST /v3/contacts/sign_up_form"] == 2

    def test_refused_contacts_fail_the_task_with_the_reason(self, hook, cc_sandbox):
        list_id = hook.create_list("Refusals")["list_id"]
        add_fault(cc_sandbox, "/v3/contacts/sign_up_form", 400, count=1)
        task = ConstantContactUpsertContactOperator(
            task_id="upsert", list_ids=list_id, contacts=[{"email": "x@example.com"}, {"email": "y@example.com"}]
        )
        with pytest.raises(ConstantContactError, match="refused 1 contact"):
            task.execute({})

    def test_large_batches_are_refused(self):
        task = ConstantContactUpsertContactOperator(
            task_id="upsert", list_ids="x", contacts=[{"email": f"{i}@example.com"} for i in range(3)], max_contacts=2
        )
        with pytest.raises(ValueError, match="use ConstantContactImportJsonOperator"):
            task.execute({})


class TestExport:
    def test_exports_a_list_to_csv_in_the_worker(self, hook, tmp_path):
        import csv

        from cc_provider.operators.exports import ConstantContactExportContactsOperator

        list_id = filled_list(hook, EMAILS)
        result = ConstantContactExportContactsOperator(
            task_id="export", path=str(tmp_path / "out" / "list.csv"), list_ids=[list_id], poll_interval=0.05
        ).execute({"ti": RecordingTaskInstance()})
        assert result["rows"] == 5
        with open(result["path"], newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(r["email_address"] for r in rows) == sorted(EMAILS)

    def test_deferred_export_downloads_after_the_event(self, hook, cc_sandbox, tmp_path):
        from cc_provider.operators.exports import ConstantContactExportContactsOperator

        list_id = filled_list(hook, EMAILS[:2])
        patch_config(cc_sandbox, activity_start_delay=30)  # still pending at the operator's first look
        ti = RecordingTaskInstance()
        task = ConstantContactExportContactsOperator(
            task_id="export", path=str(tmp_path / "list.csv"), list_ids=[list_id], deferrable=True
        )
        with pytest.raises(TaskDeferred) as deferred:
            task.execute({"ti": ti})
        (activity_id,) = deferred.value.trigger.activity_ids
        assert ti.pushed[RESUME_KEY] == {"state": None, "activity_ids": [activity_id], "done": {}}
        advance_clock(cc_sandbox, 31)  # the export runs, as the trigger would have seen
        wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
        done = {"activity_id": activity_id, "state": "completed"}
        result = task.execute_complete({"ti": ti}, event={"status": "success", "message": "ok", "activities": [done]})
        assert result["rows"] == 2

    def test_a_fast_export_downloads_without_deferral(self, hook, cc_sandbox, tmp_path):
        from cc_provider.operators.exports import ConstantContactExportContactsOperator

        list_id = filled_list(hook, EMAILS[:3])
        patch_config(cc_sandbox, activity_start_delay=0, activity_rows_per_second=1_000_000)
        ti = RecordingTaskInstance()
        result = ConstantContactExportContactsOperator(
            task_id="export", path=str(tmp_path / "list.csv"), list_ids=[list_id], deferrable=True
        ).execute({"ti": ti})  # no TaskDeferred: the first look found the export completed
        assert result["rows"] == 3
        assert ti.pushed == {}
