"""
A lost import answer is never taken for another import's activity (issue 12's reproduction), in every waiting mode.

Import 25 contacts into list A; then import 25 others into list B while the sandbox drops B's first POST
before processing it. A's activity is the same size and was created moments ago: an operator that looked
among the newest activities for "its" lost one would adopt A's, report success, and leave B empty.
"""

from __future__ import annotations

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_sandbox.testing import add_fault, patch_config, sandbox_stats
from tests.integration.helpers import RecordingTaskInstance, run_task, wait_until

IMPORT_PATH = "/v3/activities/contacts_json_import"


def people(prefix: str, n: int = 25) -> list[dict[str, str]]:
    return [{"email": f"{prefix}{i}@example.com", "first_name": f"{prefix}{i}"} for i in range(n)]


def emails_on(hook: ConstantContactHook, list_id: str) -> set[str]:
    return {c["email_address"]["address"] for c in hook.iter_contacts(lists=list_id)}


@pytest.mark.parametrize("wait", ["none", "worker", "deferred"])
def test_a_dropped_post_is_posted_again_not_matched_to_a_stranger(cc_connection, cc_sandbox, monkeypatch, wait):
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    hook = ConstantContactHook()
    list_a, list_b = (hook.create_list(name)["list_id"] for name in ("A", "B"))
    first = ConstantContactImportJsonOperator(
        task_id="import", contacts=people("a"), list_ids=[list_a], wait_for_completion=True, poll_interval=0.05
    )
    (activity_a,) = first.execute({"ti": RecordingTaskInstance()})["activity_ids"]

    add_fault(cc_sandbox, IMPORT_PATH, 200, method="POST", count=1, drop_connection=True)
    if wait == "deferred":
        patch_config(cc_sandbox, activity_start_delay=1.0)  # still pending at the task's first look: it defers
    second = ConstantContactImportJsonOperator(
        task_id="import",
        contacts=people("b"),
        list_ids=[list_b],
        wait_for_completion=wait != "none",
        deferrable=wait == "deferred",
        poll_interval=0.05,
    )
    summary = run_task(second, deferred=wait == "deferred")

    assert activity_a not in summary["activity_ids"]
    assert summary["requests_reposted"] == 1
    stats = sandbox_stats(cc_sandbox)
    assert stats["faults_served"] == 1 and stats["import_posts"] == 2  # A's and B's second post
    if wait == "none":
        (activity_b,) = summary["activity_ids"]
        wait_until(lambda: hook.get_activity(activity_b)["state"] == "completed")
    else:
        assert summary["members"] == {list_b: {"before": 0, "after": 25}}
    assert emails_on(hook, list_b) == {p["email"] for p in people("b")}
    assert emails_on(hook, list_a) == {p["email"] for p in people("a")}
