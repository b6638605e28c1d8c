"""
Seed 001: app users with usage flag 0 go to one list and those with flag 1 to another.

Each segment is extracted, imported into its own list and verified to hold exactly its users, through
dynamic task mapping over the segments: add a segment to ``segments()`` and it gets its own list,
import and check, each message going to the right people.

Every task that calls the API runs in the ``constant_contact_api`` pool, and every task is retried
(README, "Request budget").
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.membership import ConstantContactVerifyListOperator
from cc_provider.staging import run_staging_dir, write_cursor_rows, write_valid_emails

POLL_SECONDS = float(os.environ.get("CC_EXAMPLE_POLL_SECONDS", "15"))
API_POOL = "constant_contact_api"
SEGMENT_QUERY = (
    "SELECT email, first_name, last_name, company FROM app_users "
    "WHERE usage_flag = {placeholder} AND unsubscribed = 0 ORDER BY id"
)

# [START howto_constant_contact_usage_segments]
with DAG(
    dag_id="constant_contact_usage_segments",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["example", "constant_contact"],
    params={
        "low_usage_list": Param("App users - usage flag 0", type="string", maxLength=255),
        "active_list": Param("App users - usage flag 1", type="string", maxLength=255),
        "app_db_conn_id": Param("app_db", type="string"),
    },
) as dag:

    @task
    def segments(params: dict[str, Any]) -> list[dict[str, Any]]:
        """One entry per segment: the usage flag it selects and the list it goes to."""
        return [
            {"usage_flag": 0, "list_name": params["low_usage_list"]},
            {"usage_flag": 1, "list_name": params["active_list"]},
        ]

    @task
    def extract_segment(segment: dict[str, Any], params: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Stream one segment's users to a JSON Lines file; return the import operator's arguments."""
        from airflow.sdk import BaseHook

        db = BaseHook.get_connection(params["app_db_conn_id"]).get_hook()
        folder = run_staging_dir(run_id, f"usage_flag_{segment['usage_flag']}")
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(SEGMENT_QUERY.format(placeholder=db.placeholder), (segment["usage_flag"],))
            write_cursor_rows(cursor, folder / "users.jsonl")
        return {
            "path": str(folder / "users.jsonl"),
            "list_names": [segment["list_name"]],
            "rejects_path": str(folder / "rejects.csv"),
        }

    imported = ConstantContactImportJsonOperator.partial(
        task_id="import_segment",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_reject_rate=0.5,
        pool=API_POOL,
    ).expand_kwargs(extract_segment.expand(segment=segments()))

    @task
    def expected_members(summary: dict[str, Any]) -> dict[str, Any]:
        """The list must hold exactly the segment's users that passed the checks."""
        expected = os.path.join(os.path.dirname(summary["source"]), "expected.txt")
        write_valid_emails(summary["source"], expected)
        return {"list_id": summary["list_ids"][0], "expected_emails": expected}

    ConstantContactVerifyListOperator.partial(task_id="verify_segment", pool=API_POOL).expand_kwargs(
        expected_members.expand(summary=imported.output)
    )
# [END howto_constant_contact_usage_segments]
