"""
No credential leaves the token store: the client secret, the refresh tokens and the access token appear
nowhere a person or another system can read them.

The example DAG runs end to end (dag.test(): tasks and the deferred sensor's trigger, in process) on a
sandbox with **rotating** refresh tokens and the default token store (an Airflow Variable written through
the Task SDK). Then the test searches the task logs (structlog writes them to stdout; also any files
under $AIRFLOW_HOME/logs), the XCom values, the trigger rows and deferral kwargs, the rendered template
fields, and the text of the exceptions the hook raises on every auth failure path: 0 hits.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import pytest

from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks.budget import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.hooks.variable_store import VariableTokenStore
from cc_provider.sandbox.app_db import create_app_db
from cc_provider.sandbox.config import SandboxConfig
from cc_provider.sandbox.server import SandboxServer, airflow_connection
from cc_provider.sandbox.testing import CONNECTION_ENV, FAST_CONFIG, expire_tokens, reset_sandbox, sandbox_stats
from tests.conftest import REPO

DAG_ID = "constant_contact_new_list"


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture(scope="module")
def rotating_sandbox():
    config = SandboxConfig(
        **{**FAST_CONFIG, "activity_start_delay": 1.0, "activity_rows_per_second": 300.0},
        refresh_token_mode="rotating",
        client_secret="client-secret-that-must-never-leak",
        refresh_token="seed-refresh-token-that-must-never-leak",
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def rotating_connection(rotating_sandbox, monkeypatch) -> dict:
    reset_sandbox(rotating_sandbox)
    reset_process_state()
    conn = airflow_connection(rotating_sandbox)
    conn["extra"]["token_type"] = "rotating"  # token_store: the default, an Airflow Variable
    monkeypatch.setenv(CONNECTION_ENV, json.dumps(conn))
    yield conn
    reset_process_state()


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch) -> Path:
    path = create_app_db(tmp_path / "app.db", users=60)
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.setenv("CC_EXAMPLE_STAGING_DIR", str(tmp_path / "staging"))
    return path


def hits(secrets: dict[str, str], texts: dict[str, str]) -> list[str]:
    """Name every (secret, place) pair where a secret shows up."""
    return [f"{name} in {place}" for place, text in texts.items() for name, value in secrets.items() if value in text]


def database_texts(run) -> dict[str, str]:
    """XComs, trigger rows, deferral kwargs and rendered fields of ``run``, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel.task_id, XComModel.key, XComModel.value).filter_by(run_id=run.run_id).all()
        triggers = [(t.classpath, t.kwargs) for t in session.query(Trigger).all()]
        tis = session.query(TaskInstance).filter_by(run_id=run.run_id).all()
        deferrals = [(ti.task_id, ti.next_method, ti.next_kwargs, ti.trigger_id) for ti in tis]
        rendered = [
            (r.task_id, r.rendered_fields, r.k8s_pod_yaml)
            for r in session.query(RenderedTaskInstanceFields).filter_by(run_id=run.run_id).all()
        ]
    assert xcoms and rendered, "the run left no XComs or rendered fields to search"
    return {
        "xcom": repr(xcoms),
        "trigger rows": repr(triggers),
        "deferral kwargs": repr(deferrals),
        "rendered template fields": repr(rendered),
    }


def log_files_text() -> str:
    root = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if not root.exists():
        return ""
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.dag
def test_example_dag_leaks_no_credential(airflow_db, rotating_sandbox, rotating_connection, app_db, capfd, caplog):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / f"{DAG_ID}.py")).get_dag(DAG_ID)
    run = dag.test(run_conf={"list_name": "Secrets test"})
    assert run.state == "success"

    # The tokens in play: one refresh rotated the seed; the Variable holds the live pair.
    stats = sandbox_stats(rotating_sandbox)
    assert stats["refreshes"] == 1 and stats["tokens_issued"] == 1  # one access token for the whole run
    record = VariableTokenStore("constant_contact_default").load()
    assert record is not None and record.access_token
    secrets = {
        "client secret": rotating_connection["password"],
        "seed refresh token": rotating_connection["extra"]["refresh_token"],
        "rotated refresh token": record.refresh_token,
        "access token": record.access_token,
    }
    assert record.refresh_token != secrets["seed refresh token"]

    out, err = capfd.readouterr()
    logs = out + err + caplog.text + log_files_text()
    assert "Saved the rotated Constant Contact refresh token" in logs  # the rotation happened in a task
    assert "Activity" in logs  # the trigger's polling was captured too
    texts = {"task logs": logs, **database_texts(run)}
    assert hits(secrets, texts) == []


def exception_texts(action) -> str:
    try:
        action()
    except ConstantContactError as err:
        return "".join(traceback.format_exception(err)) + repr(err) + repr(err.args)
    raise AssertionError("expected a ConstantContactError")


def test_auth_failures_leak_no_credential(rotating_sandbox, rotating_connection, tmp_path, monkeypatch, capfd, caplog):
    conn = rotating_connection
    store = tmp_path / "tokens.json"
    conn["extra"]["token_store"] = f"file:{store}"

    def use(**changes):
        changed = {**conn, **{k: v for k, v in changes.items() if k != "extra"}}
        changed["extra"] = {**conn["extra"], **changes.get("extra", {})}
        monkeypatch.setenv(CONNECTION_ENV, json.dumps(changed))
        reset_process_state()
        return ConstantContactHook(max_retries=1, backoff_base=0.01)

    # a working refresh first, so that live tokens exist to leak
    hook = use()
    hook.call_json("GET", "/contact_lists")
    live_access = hook.exchange.token.value
    live_refresh = json.loads(store.read_text())["refresh_token"]

    texts = {
        "wrong client secret": exception_texts(
            lambda: use(
                password="wrong-secret-that-must-never-leak", extra={"token_store": f"file:{tmp_path / 'w.json'}"}
            ).call_json("GET", "/contact_lists")
        ),
        "lost rotation": exception_texts(
            lambda: use(extra={"token_store": f"file:{tmp_path / 'other.json'}"}).call_json("GET", "/contact_lists")
        ),
        "long-lived, refused": exception_texts(
            lambda: use(extra={"token_type": "long_lived", "token_store": f"file:{tmp_path / 'none.json'}"}).call_json(
                "GET", "/contact_lists"
            )
        ),
    }
    expire_tokens(rotating_sandbox)
    rotating_sandbox.state.revoke_refresh_tokens(client_id=rotating_sandbox.config.client_id)
    texts["401, then a revoked refresh token"] = exception_texts(lambda: use().call_json("GET", "/contact_lists"))
    assert "python -m cc_provider.auth" in texts["lost rotation"]

    out, err = capfd.readouterr()
    texts["logs of the failures"] = out + err + caplog.text
    secrets = {
        "client secret": conn["password"],
        "wrong client secret": "wrong-secret-that-must-never-leak",
        "seed refresh token": conn["extra"]["refresh_token"],
        "rotated refresh token": live_refresh,
        "access token": live_access,
    }
    assert hits(secrets, texts) == []
