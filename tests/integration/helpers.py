"""Helpers for tests that drive the sandbox and the hook."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from cc_provider.contacts.uploads import iter_json_import_batches
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.app_db import create_app_db
from cc_sandbox.testing import patch_config


def use_app_db(tmp_path: Path, monkeypatch: Any, users: int, staging_url: str | None = None) -> Path:
    """
    Create the example DAGs' synthetic app database, point ``app_db`` at it and staging beside it.

    Staging is ``[constant_contact] staging_url``: a ``file://`` URL of ``tmp_path/staging`` unless given.
    """
    path = create_app_db(tmp_path / "app.db", users=users)
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.delenv("CC_EXAMPLE_STAGING_DIR", raising=False)
    monkeypatch.setenv("AIRFLOW__CONSTANT_CONTACT__STAGING_URL", staging_url or (tmp_path / "staging").as_uri())
    return path


def slow_activities(server, start_delay: float = 30.0, rows_per_second: float = 2000.0) -> None:
    """Make new activities wait ``start_delay`` seconds, then process ``rows_per_second``."""
    patch_config(server, activity_start_delay=start_delay, activity_rows_per_second=rows_per_second)


def submit_import(hook: ConstantContactHook, emails: list[str], list_name: str = "Trigger test") -> str:
    """Create a list, import ``emails`` into it and return the activity id."""
    list_id = hook.get_or_create_list(list_name)[0]["list_id"]
    records = [(n, {"email": e}) for n, e in enumerate(emails, start=1)]
    (batch,) = iter_json_import_batches(records, [list_id])
    return hook.submit_json_import(batch.body)["activity_id"]


def wait_until(predicate, seconds: float = 20.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def xcom_value(run, task_id: str, key: str = "return_value", map_index: int = -1):
    """Read a task's XCom from the metadata database after ``dag.test()``."""
    import json

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        value = (
            session.query(XComModel.value)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key, map_index=map_index)
            .scalar()
        )
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:  # extra links are stored as the bare URL
        return value


class RecordingTaskInstance:
    """Stands in for the task instance's XCom outside a DAG run; the DAG tests use the real one."""

    task_id = "import"

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int = -1) -> object:
        assert task_ids == self.task_id
        return self.pushed.get(key)


def run_task(task: Any, *, deferred: bool) -> Any:
    """
    Run an operator's try: ``execute``; with ``deferred``, it must defer, and its trigger runs as the triggerer
    would (to its one event), then ``execute_complete`` takes the event. The task instance is a recording one.
    """
    ti = RecordingTaskInstance()
    if not deferred:
        return task.execute({"ti": ti})
    with pytest.raises(TaskDeferred) as raised:
        task.execute({"ti": ti})
    (event,) = asyncio.run(trigger_events(raised.value.trigger))
    return task.execute_complete({"ti": ti}, event=event)


async def trigger_events(trigger: Any) -> list[dict[str, Any]]:
    """Every event a trigger yields until its ``run()`` returns."""
    return [event.payload async for event in trigger.run()]


def empty_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path, table: str) -> str:
    """An Airflow connection (JSON) to a database without ``table``: a SQLite file, or the test's PostgreSQL."""
    if kind == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": str(tmp_path / f"{table}.db")})
    server = request.getfixturevalue("postgres")
    with server.connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    return str(server.airflow_conn)
