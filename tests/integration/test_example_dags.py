"""The example DAGs load cleanly and run end to end with dag.test() against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cc_provider.sandbox.app_db import create_app_db, synthetic_users
from cc_provider.sandbox.testing import sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import slow_activities, xcom_value

DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


def test_every_example_dag_loads_without_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert "constant_contact_new_list" in bag.dag_ids
    assert len(bag.dag_ids) >= len(DAG_FILES)


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch) -> Path:
    path = create_app_db(tmp_path / "app.db", users=300)
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.setenv("CC_EXAMPLE_STAGING_DIR", str(tmp_path / "staging"))
    return path


@pytest.mark.dag
def test_new_list_dag_end_to_end(airflow_db, cc_sandbox, cc_connection, app_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    slow_activities(cc_sandbox, start_delay=1.0, rows_per_second=150)  # long enough to defer and poll
    try:
        dag = DagBag(dag_folder=str(REPO / "dags" / "constant_contact_new_list.py")).get_dag(
            "constant_contact_new_list"
        )
        run = dag.test(run_conf={"list_name": "Example app users"})
    finally:
        slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)
    assert run.state == "success"

    users = synthetic_users(300)
    no_email = sum(1 for u in users if u[1] is None)
    malformed = sum(1 for u in users if u[1] and "@" not in u[1])
    summary = xcom_value(run, "verify")
    assert summary["rows_read"] == 300
    assert summary["rejected_locally"] == no_email + malformed  # caught by the local checks, never sent
    assert summary["sent"] == 300 - no_email - malformed
    assert summary["rejected_by_api"] == 0
    assert summary["verified_members"] == summary["sent"]

    from cc_provider.links import list_url

    link = list_url(summary["list_id"])
    assert xcom_value(run, "create_list", "_link_ConstantContactListLink") == link
    assert xcom_value(run, "import_contacts", "_link_ConstantContactListLink") == link

    stats = sandbox_stats(cc_sandbox)
    assert stats["import_posts"] == 1
    assert stats["truncations"] == 0
    assert stats["requests"].get("GET /v3/activities/{activity_id}", 0) >= 2  # polled while deferred
    rejects = (tmp_path / "staging").glob("*/rejects.csv")
    assert sum(len(p.read_text().splitlines()) - 1 for p in rejects) == no_email + malformed
