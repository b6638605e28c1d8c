"""Test DAG: an import whose task retries once (used by tests/integration/test_import_resume.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from cc_provider.operators.json_import import ConstantContactImportJsonOperator

with DAG(
    "cc_resume_test",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"list_id": ""},
) as dag:
    ConstantContactImportJsonOperator(
        task_id="import_contacts",
        contacts=[{"email": f"user{i}@example.com"} for i in range(30)],
        list_ids=["{{ params.list_id }}"],
        max_contacts_per_request=10,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.5,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
