"""
Seed 001: app users with usage flag 0 go to one list and those with flag 1 to another.

Each segment is imported by one task that runs the segment's query and streams its rows into its own
list (``SqlToConstantContactOperator``: extract, format and import in one step, nothing staged but the
rejects), then verified to hold exactly its users, through dynamic task mapping over the segments: add
a segment to ``segments()`` and it gets its own list, import and check, each message going to the right
people.

Every task that calls the API runs in the ``constant_contact_api`` pool, and every task is retried
(README, "Request budget").
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from cc_provider.operators.membership import ConstantContactVerifyListOperator
from cc_provider.staging import run_staging_dir, write_valid_emails
from cc_provider.transfers.sql_to_constant_contact import (
    DEFAULT_FETCH_SIZE,
    QueryRows,
    SqlToConstantContactOperator,
    db_api_hook,
)

POLL_SECONDS = float(os.environ.get("CC_EXAMPLE_POLL_SECONDS", "15"))
RETRY_DELAY_SECONDS = float(os.environ.get("CC_EXAMPLE_RETRY_DELAY_SECONDS", "120"))
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
    default_args={"retries": 2, "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS)},
    tags=["example", "constant_contact"],
    params={
        "low_usage_list": Param("App users - usage flag 0", type="string", maxLength=255),
        "active_list": Param("App users - usage flag 1", type="string", maxLength=255),
        "app_db_conn_id": Param("app_db", type="string"),
    },
) as dag:

    @task
    def segments(params: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
        """One import per segment: the query of its usage flag, the list it goes to, where its rejects go."""
        conn_id = params["app_db_conn_id"]
        sql = SEGMENT_QUERY.format(placeholder=db_api_hook(conn_id).placeholder)
        return [
            {
                "sql_conn_id": conn_id,
                "sql": sql,
                "parameters": [usage_flag],
                "list_names": [list_name],
                "rejects_path": str(run_staging_dir(run_id, f"usage_flag_{usage_flag}") / "rejects.csv"),
            }
            for usage_flag, list_name in ((0, params["low_usage_list"]), (1, params["active_list"]))
        ]

    segment_imports = segments()
    imported = SqlToConstantContactOperator.partial(
        task_id="import_segment",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        max_reject_rate=0.5,
        pool=API_POOL,
    ).expand_kwargs(segment_imports)

    @task
    def expected_members(segment_import: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        """The list must hold exactly the segment's users that pass the checks: its query, run again."""
        segment, summary = segment_import
        expected = os.path.join(os.path.dirname(summary["rejects_path"]), "expected.txt")
        rows = QueryRows(
            db_api_hook(segment["sql_conn_id"]), segment["sql"], segment["parameters"], fetch_size=DEFAULT_FETCH_SIZE
        )
        try:
            write_valid_emails(rows, expected)
        finally:
            rows.close()
        return {"list_id": summary["list_ids"][0], "expected_emails": expected}

    ConstantContactVerifyListOperator.partial(task_id="verify_segment", pool=API_POOL).expand_kwargs(
        expected_members.expand(segment_import=segment_imports.zip(imported.output))
    )
# [END howto_constant_contact_usage_segments]
