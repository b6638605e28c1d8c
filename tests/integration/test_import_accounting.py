"""
Every row accounted for under each plausible behaviour of the real API (the sandbox's behaviour profiles).

Thirteen source rows: one fails the local checks, and two carry addresses the API rejects although the
client's checks pass them (flagged for signup abuse, S27), so only the API's report can name them. What
V3 reports in ``activity_errors`` is not settled (FIDELITY.md): V2-style ``Line N:`` messages, nothing,
or free text. Under each, in both waiting modes and for both operators, the summary balances, the
rejects file accounts for every rejected row, and the list holds exactly the imported contacts.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.csv_import import ConstantContactImportCsvOperator
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_sandbox.behaviour import BEHAVIOUR_PROFILES
from cc_sandbox.testing import flag_emails, patch_config
from tests.integration.helpers import run_task

GOOD = [f"good{i}@example.com" for i in range(10)]
FLAGGED = ["flagged1@example.com", "flagged2@example.com"]
#: positions: the local reject is the 3rd record, the flagged addresses the 2nd and the 13th
EMAILS = [GOOD[0], FLAGGED[0], "not-an-email", *GOOD[1:], FLAGGED[1]]
#: a CSV file's header is row 1, so its n-th record is row n + 1; a JSON array's n-th record is row n
FIRST_ROW = {"csv": 2, "json": 1}


def write_source(path: Path, kind: str) -> str:
    if kind == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "first_name"])
            writer.writerows([email, "Name"] for email in EMAILS)
    else:
        import json

        path.write_text(json.dumps([{"email": email, "first_name": "Name"} for email in EMAILS]))
    return str(path)


@pytest.mark.parametrize("wait", ["worker", "deferred"])
@pytest.mark.parametrize("kind", ["csv", "json"])
def test_every_row_is_accounted_for_whatever_the_api_reports(
    cc_behaviour_profile, cc_connection, cc_sandbox, tmp_path, monkeypatch, kind, wait
):
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    hook = ConstantContactHook()
    list_id = hook.create_list("Accounting")["list_id"]
    flag_emails(cc_sandbox, *FLAGGED)
    if wait == "deferred":
        patch_config(cc_sandbox, activity_start_delay=1.0)  # still pending at the task's first look: it defers
    operator = ConstantContactImportCsvOperator if kind == "csv" else ConstantContactImportJsonOperator
    rejects = tmp_path / "rejects.csv"
    task = operator(
        task_id="import",
        path=write_source(tmp_path / f"people.{kind}", kind),
        list_ids=[list_id],
        rejects_path=str(rejects),
        max_contacts_per_request=5,  # 12 sent: requests of 5, 5 and 2; a flagged address in the first and last
        wait_for_completion=True,
        deferrable=wait == "deferred",
        poll_interval=0.05,
    )
    summary = run_task(task, deferred=wait == "deferred")

    assert (summary["rows_read"], summary["rows_rejected"], summary["rows_sent"], summary["requests"]) == (13, 1, 12, 3)
    assert summary["rows_rejected_by_api"] == 2
    assert summary["rows_read"] == summary["rows_rejected"] + summary["rows_rejected_by_api"] + summary["rows_imported"]
    assert summary["members"] == {list_id: {"before": 0, "after": 10}}
    assert {c["email_address"]["address"] for c in hook.iter_contacts(lists=list_id)} == set(GOOD)

    with rejects.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    row = FIRST_ROW[kind] - 1  # + position (1-based) = source row
    assert int(lines[0]["row_number"]) == row + 3  # the local reject
    api_lines = lines[1:]
    style = BEHAVIOUR_PROFILES[cc_behaviour_profile]["activity_errors_style"]
    if style == "line_numbers":
        # the API named the rows: each lands under its source row
        assert [(int(line["row_number"]), line["reason"]) for line in api_lines] == [
            (row + position, f"rejected by the API: Invalid email address '{email}'")
            for position, email in zip((2, 13), FLAGGED, strict=True)
        ]
        assert summary["rows_rejected_by_api_unidentified"] == 0
    else:
        # the API did not say which rows: one line per request, naming its rows and the number rejected
        assert [(line["row_number"], line["value"]) for line in api_lines] == [
            ("0", f"request 1: source rows {row + 1}-{row + 6}"),  # records 1, 2, 4, 5 and 6
            ("0", f"request 3: source rows {row + 12}-{row + 13}"),
        ]
        assert all(
            line["reason"].startswith(f"rejected by the API, no reason given: 1 of the {n} contact(s) of request")
            for line, n in zip(api_lines, (5, 2), strict=True)
        )
        assert summary["rows_rejected_by_api_unidentified"] == 2
