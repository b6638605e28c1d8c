"""A retried import task re-attaches to the activities its failed try posted instead of posting again."""

from __future__ import annotations

import json

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.testing import add_fault, sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import slow_activities


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.mark.dag
def test_retry_after_a_failed_wait_does_not_post_again(airflow_db, cc_sandbox, cc_connection, monkeypatch, capsys):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    hook = ConstantContactHook()
    list_id = hook.create_list("Resumed import")["list_id"]
    dag = DagBag(dag_folder=str(REPO / "tests" / "dags" / "cc_resume_test.py")).get_dag("cc_resume_test")
    slow_activities(cc_sandbox, start_delay=0.5, rows_per_second=1000)
    # Three activities are read through the list endpoint; its first answer is a refusal that is not
    # transient, so the first try fails while waiting, after all three requests were posted.
    add_fault(cc_sandbox, "/v3/activities", 403, body={"error_key": "forbidden", "error_message": "Not now"})
    try:
        run = dag.test(run_conf={"list_id": list_id})
    finally:
        slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)
    logged = capsys.readouterr().out
    assert "Not now" in logged  # the first try's wait did fail
    assert "Resuming: an earlier try already posted 3 request(s) (30 contacts)" in logged
    assert run.state == "success"
    assert sandbox_stats(cc_sandbox)["import_posts"] == 3  # one per chunk of 10, none re-posted
    assert hook.count_list_members(list_id) == 30
    summary = _xcom(run, "import_contacts", "return_value")
    assert (summary["requests"], summary["requests_resumed"], summary["rows_sent"]) == (3, 3, 30)
    assert _xcom(run, "import_contacts", "activity_ids") == summary["activity_ids"]


def _xcom(run, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = (
            session.query(XComModel.value)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key)
            .scalar()
        )
    return json.loads(value) if isinstance(value, str) else value
