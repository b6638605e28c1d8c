"""
Seed 002's "keep the local source in sync": a scheduled, incremental sync of one segment to one list.

Each run
1. pulls the contacts who unsubscribed in Constant Contact since the last successful run and marks
   them in the app database, so nobody who unsubscribed is ever imported again;
2. imports (upserts) the segment's users changed since the last successful run (all on the first run);
3. in mirror mode, removes from the list the contacts who left the segment;
4. verifies the list against the segment.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from cc_provider.contacts.staging import iter_valid_emails, run_staging_dir, write_cursor_rows
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.lists import ConstantContactCreateListOperator
from cc_provider.operators.membership import ConstantContactRemoveFromListOperator, ConstantContactVerifyListOperator

POLL_SECONDS = float(os.environ.get("CC_EXAMPLE_POLL_SECONDS", "15"))
COLUMNS = "email, first_name, last_name, company"
UPDATE_BATCH = 500


def _iso(moment: Any) -> str | None:
    # context values such as prev_data_interval_end_success are lazy proxies: test them for truth, not `is None`
    return moment.isoformat() if moment else None


def _db(params: dict[str, Any]) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(params["app_db_conn_id"]).get_hook()


# [START howto_constant_contact_sync]
with DAG(
    dag_id="constant_contact_sync",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    tags=["example", "constant_contact"],
    params={
        "list_name": Param("Active app users", type="string", maxLength=255),
        "segment": Param("usage_flag = 1", type="string", description="SQL condition selecting the segment"),
        "mirror": Param(True, type="boolean", description="remove from the list whoever left the segment"),
        "app_db_conn_id": Param("app_db", type="string"),
    },
) as dag:
    sync_list = ConstantContactCreateListOperator(task_id="sync_list", name="{{ params.list_name }}")

    @task
    def pull_unsubscribes(params: dict[str, Any], prev_data_interval_end_success: Any = None) -> int:
        """Mark in the app database everyone who unsubscribed in Constant Contact since the last good run."""
        filters = {"status": "unsubscribed"}
        if prev_data_interval_end_success:
            filters["updated_after"] = _iso(prev_data_interval_end_success)
        emails = [
            str(c["email_address"]["address"]).lower()
            for c in ConstantContactHook().iter_contacts(**filters)
            if (c.get("email_address") or {}).get("address")
        ]
        db = _db(params)
        for start in range(0, len(emails), UPDATE_BATCH):
            chunk = emails[start : start + UPDATE_BATCH]
            marks = ", ".join([db.placeholder] * len(chunk))
            db.run(f"UPDATE app_users SET unsubscribed = 1 WHERE lower(email) IN ({marks})", parameters=chunk)
        return len(emails)

    @task(multiple_outputs=True)
    def extract_changes(
        params: dict[str, Any], run_id: str, data_interval_end: Any = None, prev_data_interval_end_success: Any = None
    ) -> dict[str, Any]:
        """Stream the segment's subscribed users changed since the last successful run (all on the first run)."""
        db, mark = _db(params), None
        mark = db.placeholder
        sql = (
            f"SELECT {COLUMNS} FROM app_users WHERE ({params['segment']}) AND unsubscribed = 0 AND updated_at < {mark}"
        )
        values = [_iso(data_interval_end)]
        if prev_data_interval_end_success:
            sql += f" AND updated_at >= {mark}"
            values.append(_iso(prev_data_interval_end_success))
        out = run_staging_dir(run_id) / "changes.jsonl"
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(sql + " ORDER BY id", values)
            rows = write_cursor_rows(cursor, out)
        return {"path": str(out), "rows": rows, "rejects_path": str(out.with_name("rejects.csv"))}

    changes = extract_changes()
    import_changes = ConstantContactImportJsonOperator(
        task_id="import_changes",
        path=changes["path"],
        rejects_path=changes["rejects_path"],
        list_ids=[sync_list.output],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )

    @task(multiple_outputs=True)
    def find_leavers(list_id: str, params: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Write the segment's valid addresses; return the list members no longer in it (mirror mode)."""
        out = run_staging_dir(run_id) / "segment.jsonl"
        db = _db(params)
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(f"SELECT {COLUMNS} FROM app_users WHERE ({params['segment']}) AND unsubscribed = 0")
            write_cursor_rows(cursor, out)
        expected = out.with_name("expected.txt")
        segment = set()
        with expected.open("w", encoding="utf-8") as handle:
            for email in iter_valid_emails(str(out)):
                segment.add(email)
                handle.write(email + "\n")
        leavers = []
        if params["mirror"]:
            for contact in ConstantContactHook().iter_contacts(lists=list_id):
                if str((contact.get("email_address") or {}).get("address", "")).lower() not in segment:
                    leavers.append(contact["contact_id"])
        return {"contact_ids": leavers, "expected_path": str(expected)}

    leavers = find_leavers(sync_list.output)
    remove_leavers = ConstantContactRemoveFromListOperator(
        task_id="remove_leavers",
        list_ids=[sync_list.output],
        contact_ids=leavers["contact_ids"],
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )
    verify = ConstantContactVerifyListOperator(
        task_id="verify",
        list_id=sync_list.output,
        expected_emails=leavers["expected_path"],
        allow_unexpected="{{ not params.mirror }}",
    )

    pull_unsubscribes() >> changes
    import_changes >> leavers >> remove_leavers >> verify
# [END howto_constant_contact_sync]
