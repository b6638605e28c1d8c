"""
Long-lived refresh tokens (the default): one access token serves a whole DAG run, as README says.

A real worker runs every task in a process of its own, which starts with no token in hand (the hook's
process-wide state is cleared at fork: :func:`~cc_provider.hooks._retry.reset_process_state`). dag.test()
runs every task in the test's process instead, so a listener gives each task what a worker gives it:
the process-wide state cleared as the task starts. The tasks then find the first task's access token in
the default token store, an Airflow Variable reached through the Task SDK, and the sandbox counts the
token requests of the run.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from airflow.listeners import hookimpl

from cc_provider.credential_stores import TokenRecord
from cc_provider.hooks._retry import reset_process_state
from cc_sandbox.testing import sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import slow_activities, use_app_db

DAG_ID = "constant_contact_new_list"
TOKEN_ROUTE = "POST /oauth2/default/v1/token"
STORE_KEY = "constant_contact_token__constant_contact_default"
#: The tasks of the DAG that call the API (the sensor twice: before it defers and when it resumes).
API_TASK_STARTS = {"create_list": 1, "import_contacts": 1, "wait_for_import": 2, "verify": 1}


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    resetdb()
    Pool.create_or_update_pool("constant_contact_api", 2, "Constant Contact API", include_deferred=False)


class FreshProcessPerTask:
    """An Airflow listener: every task starts as it would in a worker's new process."""

    def __init__(self) -> None:
        self.started: list[str] = []

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance) -> None:
        reset_process_state()
        self.started.append(task_instance.task_id)


@pytest.fixture
def fresh_process_per_task():
    from airflow.sdk.listener import get_listener_manager

    manager, listener = get_listener_manager(), FreshProcessPerTask()
    manager.add_listener(listener)
    reset_process_state()
    yield listener
    manager.pm.unregister(listener)
    reset_process_state()


@pytest.fixture
def no_stored_tokens(airflow_db):
    from airflow.models.variable import Variable

    Variable.delete(STORE_KEY)
    yield
    Variable.delete(STORE_KEY)


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch) -> Path:
    return use_app_db(tmp_path, monkeypatch, users=60)


@pytest.mark.dag
def test_a_dag_run_makes_one_token_request(
    airflow_db, cc_sandbox, cc_connection, app_db, no_stored_tokens, fresh_process_per_task, capfd
):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.variable import Variable

    assert cc_connection["extra"].get("refresh_mode", "long_lived") == "long_lived"
    dag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py")).get_dag(DAG_ID)
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)  # a failing test fails fast
    slow_activities(cc_sandbox, start_delay=1.0, rows_per_second=100)  # the sensor defers, then resumes
    run = dag.test(run_conf={"list_name": "One token"})
    assert run.state == "success"

    started = fresh_process_per_task.started
    assert {task: started.count(task) for task in API_TASK_STARTS} == API_TASK_STARTS  # each in a "new process"
    stats = sandbox_stats(cc_sandbox)
    assert stats["requests"][TOKEN_ROUTE] == 1 and stats["refreshes"] == 1  # one for the whole run
    assert stats["unauthorized"] == 0
    logs = capfd.readouterr().out
    assert logs.count("Using the Constant Contact access token shared through Airflow Variable") >= 3
    record = TokenRecord.from_json(Variable.get(STORE_KEY), STORE_KEY)
    assert record.refresh_token == cc_connection["extra"]["refresh_token"]  # long-lived: the same one
    assert record.access_token and record.client_id == cc_connection["login"]
