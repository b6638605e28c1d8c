"""
Populate a new Constant Contact list from the app database, then prove what landed.

Seed 002's "Populate a New Contacts List": create the list, extract the users with SQL, format them to
the import shape, import them in bulk, wait for the import activities without holding a worker slot,
and verify the list's membership through ``GET /contacts?lists=``.

Every task that calls the API runs in the ``constant_contact_api`` pool (create it with
``airflow pools set constant_contact_api 2 "Constant Contact API"``), and every task is retried
(README, "Request budget").
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.lists import ConstantContactCreateListOperator
from cc_provider.sensors.activity import ConstantContactActivitySensor
from cc_provider.staging import open_text, prepared_import, run_staging_dir, write_cursor_rows

# Seconds between activity polls; each poll costs one API request per pending activity.
POLL_SECONDS = float(os.environ.get("CC_EXAMPLE_POLL_SECONDS", "15"))
#: Seconds before a failed task is tried again.
RETRY_DELAY_SECONDS = float(os.environ.get("CC_EXAMPLE_RETRY_DELAY_SECONDS", "120"))
#: Tasks that call the API share this pool: its slots bound how many processes use the API key at once.
API_POOL = "constant_contact_api"


# [START howto_constant_contact_new_list]
with DAG(
    dag_id="constant_contact_new_list",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS)},
    tags=["example", "constant_contact"],
    params={
        "list_name": Param("App users", type="string", maxLength=255),
        "app_db_conn_id": Param("app_db", type="string"),
        "query": Param("SELECT email, first_name, last_name, company FROM app_users ORDER BY id", type="string"),
    },
) as dag:
    create_list = ConstantContactCreateListOperator(
        task_id="create_list",
        name="{{ params.list_name }}",
        description="Users of the app, imported by Airflow.",
        pool=API_POOL,
    )

    @task(multiple_outputs=True)
    def extract(params: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Stream the query's rows from the app database to a JSON Lines file."""
        from airflow.sdk import BaseHook

        db = BaseHook.get_connection(params["app_db_conn_id"]).get_hook()
        out = run_staging_dir(run_id) / "extracted.jsonl"
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(params["query"])
            rows = write_cursor_rows(cursor, out)
        return {"path": str(out), "rows": rows}

    @task(multiple_outputs=True)
    def format_contacts(path: str, run_id: str) -> dict[str, Any]:
        """Map and check the rows by the API's rules; rows that fail go to rejects.csv with a reason."""
        import json

        out = run_staging_dir(run_id) / "contacts.jsonl"
        rejects = out.with_name("rejects.csv")
        with prepared_import(path, rejects_path=rejects) as prepared, open_text(out, "w") as handle:
            for _, record in prepared.records():
                handle.write(json.dumps(record) + "\n")
        counts = prepared.counts
        return {"path": str(out), "valid": counts.rows_valid, "rejected": counts.rows_rejected}

    extracted = extract()
    formatted = format_contacts(extracted["path"])

    import_contacts = ConstantContactImportJsonOperator(
        task_id="import_contacts",
        path=formatted["path"],
        list_ids=[create_list.output],
        pool=API_POOL,
    )

    wait_for_import = ConstantContactActivitySensor(
        task_id="wait_for_import",
        activity_ids=import_contacts.output["activity_ids"],
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=3600,
        pool=API_POOL,
    )

    @task(pool=API_POOL)
    def verify(list_id: str, extracted: dict, formatted: dict, imported: dict, activities: list) -> dict:
        """Check that the list holds every contact sent, less those the API rejected."""
        rejected_by_api = sum(a.get("error_count", 0) + a.get("cannot_add_to_list_count", 0) for a in activities)
        expected = imported["rows_sent"] - rejected_by_api
        members = ConstantContactHook().count_list_members(list_id)
        summary = {
            "list_id": list_id,
            "rows_read": extracted["rows"],
            "rejected_locally": formatted["rejected"],
            "sent": imported["rows_sent"],
            "rejected_by_api": rejected_by_api,
            "expected_members": expected,
            "verified_members": members,
            "api_errors": [e for a in activities for e in a.get("activity_errors", [])][:10],
        }
        if extracted["rows"] != formatted["rejected"] + imported["rows_read"] or imported["rows_rejected"]:
            raise ValueError(f"Rows were lost between extract and import: {summary}")
        if members != expected:
            raise ValueError(f"List {list_id} has {members} members; expected {expected}. Summary: {summary}")
        return summary

    verified = verify(create_list.output, extracted, formatted, import_contacts.output, wait_for_import.output)
    import_contacts >> wait_for_import
# [END howto_constant_contact_new_list]
