"""The seed DAGs end to end with dag.test(): usage segments (seed 001) and the incremental sync (seed 002)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from cc_provider.contacts.staging import iter_valid_emails
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.sandbox.app_db import create_app_db
from cc_provider.sandbox.testing import admin_call, sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import xcom_value

USERS = 120


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    path = create_app_db(tmp_path / "app.db", users=USERS)
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    monkeypatch.setenv("CC_EXAMPLE_STAGING_DIR", str(tmp_path / "staging"))
    return path


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)


def segment_emails(db_path, where: str) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute(f"SELECT email, first_name FROM app_users WHERE {where}")]
    return set(iter_valid_emails(rows))


def members(hook: ConstantContactHook, list_name: str) -> set[str]:
    list_id = hook.find_list_by_name(list_name)["list_id"]
    return {c["email_address"]["address"].lower() for c in hook.iter_contacts(lists=list_id)}


@pytest.mark.dag
def test_usage_segments_land_in_their_own_lists(airflow_db, cc_sandbox, cc_connection, app_db):
    run = load_dag("constant_contact_usage_segments").test(
        run_conf={"low_usage_list": "Usage 0", "active_list": "Usage 1"}
    )
    assert run.state == "success"
    hook = ConstantContactHook()
    low, active = members(hook, "Usage 0"), members(hook, "Usage 1")
    assert low == segment_emails(app_db, "usage_flag = 0")
    assert active == segment_emails(app_db, "usage_flag = 1")
    assert low and active and not low & active
    assert sandbox_stats(cc_sandbox)["import_posts"] == 2
    reports = [xcom_value(run, "verify_segment", map_index=i) for i in (0, 1)]
    assert sorted(r["members"] for r in reports) == sorted([len(low), len(active)])


@pytest.mark.dag
def test_sync_is_incremental_removes_leavers_and_never_readds_unsubscribes(
    airflow_db, cc_sandbox, cc_connection, app_db
):
    hook = ConstantContactHook()
    dag = load_dag("constant_contact_sync")
    active = sorted(segment_emails(app_db, "usage_flag = 1"))
    first_unsubscribe, second_unsubscribe, *others = active
    admin_call(cc_sandbox, "POST", "contacts", {"email": first_unsubscribe, "permission_to_send": "unsubscribed"})

    first = dag.test(logical_date=datetime(2026, 11, 22, tzinfo=timezone.utc), run_conf={"list_name": "Synced"})
    assert first.state == "success"
    assert members(hook, "Synced") == set(active) - {first_unsubscribe}
    assert local(app_db, "SELECT unsubscribed FROM app_users WHERE email = ?", first_unsubscribe) == 1
    assert xcom_value(first, "import_changes")["rows_sent"] == len(active) - 1

    changed, leaving = others[:3], others[3:5]
    with sqlite3.connect(app_db) as conn:
        late = "2026-11-22T06:00:00+00:00"
        conn.executemany(
            "UPDATE app_users SET first_name = 'Renamed', updated_at = ? WHERE email = ?", [(late, e) for e in changed]
        )
        conn.executemany(
            "UPDATE app_users SET usage_flag = 0, updated_at = ? WHERE email = ?", [(late, e) for e in leaving]
        )
        conn.execute(
            "INSERT INTO app_users VALUES (9999, 'newcomer@example.com', 'New', 'Comer', '', 1, ?, 0)", (late,)
        )
        conn.execute("UPDATE app_users SET updated_at = ? WHERE email = ?", (late, second_unsubscribe))
    admin_call(cc_sandbox, "POST", "contacts", {"email": second_unsubscribe, "permission_to_send": "unsubscribed"})

    second = dag.test(logical_date=datetime(2026, 11, 23, tzinfo=timezone.utc), run_conf={"list_name": "Synced"})
    assert second.state == "success"
    imported = xcom_value(second, "import_changes")
    assert imported["rows_read"] == len(changed) + 1  # the renamed users and the newcomer: only the changes
    expected = (set(active) - {first_unsubscribe, second_unsubscribe} - set(leaving)) | {"newcomer@example.com"}
    assert members(hook, "Synced") == expected
    assert hook.find_contact(changed[0])["first_name"] == "Renamed"
    assert xcom_value(second, "remove_leavers")["contacts"] == len(leaving) + 1  # and the new unsubscriber
    for email in (first_unsubscribe, second_unsubscribe):
        assert email not in members(hook, "Synced")
        assert local(app_db, "SELECT unsubscribed FROM app_users WHERE email = ?", email) == 1


def local(db_path, sql: str, *values):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, values).fetchone()[0]
