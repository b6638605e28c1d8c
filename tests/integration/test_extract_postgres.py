"""
The new-list example DAG end to end with its app database on a real PostgreSQL server.

Same DAG, same 300 synthetic users as the SQLite run in test_example_dags.py; only ``AIRFLOW_CONN_APP_DB``
changes (``conn_type: postgres``), so the extract goes through the postgres provider's hook.
"""

from __future__ import annotations

import json

import pytest

from cc_sandbox.app_db import load_app_users, synthetic_users
from cc_sandbox.testing import sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import slow_activities
from tests.integration.postgres import PostgresServer, postgres  # noqa: F401 (fixture)

USERS = 300


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def postgres_app_db(postgres: PostgresServer, tmp_path, monkeypatch) -> PostgresServer:  # noqa: F811
    with postgres.connect() as conn:
        assert load_app_users(conn, users=USERS) == USERS
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", postgres.airflow_conn)
    monkeypatch.setenv("CC_EXAMPLE_STAGING_DIR", str(tmp_path / "staging"))
    return postgres


@pytest.mark.dag
def test_new_list_dag_end_to_end_from_postgres(airflow_db, cc_sandbox, cc_connection, postgres_app_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook

    assert type(BaseHook.get_connection("app_db").get_hook()).__name__ == "PostgresHook"

    slow_activities(cc_sandbox, start_delay=1.0, rows_per_second=150)  # long enough to defer and poll
    try:
        dag = DagBag(dag_folder=str(REPO / "dags" / "constant_contact_new_list.py")).get_dag(
            "constant_contact_new_list"
        )
        run = dag.test(run_conf={"list_name": "Example app users (PostgreSQL)"})
    finally:
        slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)
    assert run.state == "success"

    # The extract read the very users that were loaded, in order, from PostgreSQL.
    (extracted,) = (tmp_path / "staging").glob("*/extracted.jsonl")
    emails = [json.loads(line)["email"] for line in extracted.read_text().splitlines()]
    users = synthetic_users(USERS)
    assert emails == [u[1] for u in users]

    no_email = sum(1 for u in users if u[1] is None)
    malformed = sum(1 for u in users if u[1] and "@" not in u[1])
    summary = _xcom(run, "verify")
    assert summary["rows_read"] == USERS
    assert summary["rows_read"] == summary["rejected_locally"] + summary["sent"]
    assert summary["rejected_locally"] >= no_email  # whatever local validation adds, no email is never sent
    assert summary["rejected_by_api"] <= malformed
    assert summary["verified_members"] == summary["expected_members"] == summary["sent"] - summary["rejected_by_api"]
    assert all("Invalid email" in e or "invalid" in e.lower() for e in summary["api_errors"])

    stats = sandbox_stats(cc_sandbox)
    assert stats["import_posts"] == 1
    assert stats["truncations"] == 0
    assert stats["requests"].get("GET /v3/activities/{activity_id}", 0) >= 2  # polled while deferred
    rejects = (tmp_path / "staging").glob("*/rejects.csv")
    assert sum(len(p.read_text().splitlines()) - 1 for p in rejects) == summary["rejected_locally"]


def _xcom(run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = (
            session.query(XComModel.value)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .scalar()
        )
    return json.loads(value) if isinstance(value, str) else value
