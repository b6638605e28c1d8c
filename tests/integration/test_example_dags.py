"""The example DAGs load cleanly and run end to end with dag.test() against the sandbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cc_sandbox.app_db import synthetic_users
from cc_sandbox.testing import sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import slow_activities, use_app_db, xcom_value

DAG_FILES = sorted((REPO / "dags").glob("*.py"))
API_POOL = "constant_contact_api"


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    resetdb()
    # the pool the example DAGs put their API tasks in (README, "Request budget")
    Pool.create_or_update_pool(API_POOL, 2, "Constant Contact API", include_deferred=False)


def test_every_example_dag_loads_without_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert "constant_contact_new_list" in bag.dag_ids
    assert len(bag.dag_ids) >= len(DAG_FILES)


#: The tasks of each example DAG that call the Constant Contact API.
API_TASKS = {
    "constant_contact_new_list": {"create_list", "import_contacts", "wait_for_import", "verify"},
    "constant_contact_usage_segments": {"import_segment", "verify_segment"},
    "constant_contact_sync": {
        "sync_list",
        "pull_unsubscribes",
        "import_changes",
        "find_leavers",
        "remove_leavers",
        "verify",
    },
}


def test_the_examples_show_the_recommended_pool_and_retries():
    """README's Request budget: API tasks in one small pool, every task retried after a pause."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert set(API_TASKS) == set(bag.dag_ids)
    for dag_id, api_tasks in API_TASKS.items():
        dag = bag.dags[dag_id]
        assert api_tasks <= set(dag.task_ids), dag_id
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_delay.total_seconds() >= 60, (dag_id, task.task_id)
            expected_pool = API_POOL if task.task_id in api_tasks else "default_pool"
            assert task.pool == expected_pool, (dag_id, task.task_id)


def test_the_examples_retry_delay_comes_from_the_environment(monkeypatch):
    """``CC_EXAMPLE_RETRY_DELAY_SECONDS`` sets every example task's pause before a retry (2 minutes without it)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CC_EXAMPLE_RETRY_DELAY_SECONDS", "3")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert set(API_TASKS) == set(bag.dag_ids)
    for dag_id in API_TASKS:
        assert {task.retry_delay for task in bag.dags[dag_id].tasks} == {timedelta(seconds=3)}, dag_id


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch) -> Path:
    return use_app_db(tmp_path, monkeypatch, users=300)


@pytest.mark.dag
def test_new_list_dag_end_to_end(airflow_db, cc_sandbox, cc_connection, app_db, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    slow_activities(cc_sandbox, start_delay=1.0, rows_per_second=150)  # long enough to defer and poll
    try:
        dag = DagBag(dag_folder=str(REPO / "dags" / "constant_contact_new_list.py")).get_dag(
            "constant_contact_new_list"
        )
        for task in dag.tasks:
            task.retry_delay = timedelta(seconds=1)  # a failing test fails fast
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
