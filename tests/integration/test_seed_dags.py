"""The seed DAGs end to end with dag.test(): usage segments (seed 001) and the incremental sync (seed 002)."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.staging import iter_valid_emails
from cc_sandbox.testing import admin_call, sandbox_stats
from tests.conftest import REPO
from tests.integration.helpers import use_app_db, xcom_value

USERS = 120
API_POOL = "constant_contact_api"


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    resetdb()
    # the pool the example DAGs put their API tasks in (README, "Request budget")
    Pool.create_or_update_pool(API_POOL, 2, "Constant Contact API", include_deferred=False)


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    return use_app_db(tmp_path, monkeypatch, users=USERS)


def load_dag(dag_id: str):
    """The example DAG as it is, but retried after 1 s instead of minutes: a failing test fails fast."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)
    return dag


def segment_emails(db_path, where: str) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute(f"SELECT email, first_name FROM app_users WHERE {where}")]
    return set(iter_valid_emails(rows))


def members(hook: ConstantContactHook, list_name: str) -> set[str]:
    list_id = hook.find_list_by_name(list_name)["list_id"]
    return {c["email_address"]["address"].lower() for c in hook.iter_contacts(lists=list_id)}


@pytest.mark.dag
def test_usage_segments_land_in_their_own_lists(airflow_db, cc_sandbox, cc_connection, app_db, tmp_path):
    dag = load_dag("constant_contact_usage_segments")
    # each segment is queried and imported by one task: nothing but rejects and expected addresses is staged
    assert set(dag.task_ids) == {"segments", "import_segment", "expected_members", "verify_segment"}
    run = dag.test(run_conf={"low_usage_list": "Usage 0", "active_list": "Usage 1"})
    assert run.state == "success"
    hook = ConstantContactHook()
    low, active = members(hook, "Usage 0"), members(hook, "Usage 1")
    assert low == segment_emails(app_db, "usage_flag = 0")
    assert active == segment_emails(app_db, "usage_flag = 1")
    assert low and active and not low & active
    assert sandbox_stats(cc_sandbox)["import_posts"] == 2
    reports = [xcom_value(run, "verify_segment", map_index=i) for i in (0, 1)]
    assert sorted(r["members"] for r in reports) == sorted([len(low), len(active)])

    run_dir = tmp_path / "staging" / re.sub(r"[^A-Za-z0-9_.-]", "_", run.run_id)  # the run's staging folder
    for flag in (0, 1):
        summary = xcom_value(run, "import_segment", map_index=flag)
        assert summary["source"] == "sql:app_db"
        with sqlite3.connect(app_db) as conn:
            (rows,) = conn.execute("SELECT COUNT(*) FROM app_users WHERE usage_flag = ?", (flag,)).fetchone()
        assert summary["rows_read"] == rows and summary["rows_rejected"] > 0
        rejects = run_dir / f"usage_flag_{flag}" / "rejects.csv"
        assert summary["rejects_path"] == rejects.as_uri()
        assert len(rejects.read_text().splitlines()) - 1 == summary["rows_rejected"]
    staged = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    assert staged == [f"usage_flag_{f}/{name}" for f in (0, 1) for name in ("expected.txt", "rejects.csv")]


WATERMARK = "constant_contact_sync__watermark"


@pytest.fixture
def no_watermark(airflow_db):
    """No earlier sync: the metadata database is shared by the tests of this module."""
    from airflow.models.variable import Variable

    Variable.delete(WATERMARK)
    yield
    Variable.delete(WATERMARK)


def watermark() -> dict | None:
    from airflow.models.variable import Variable

    text = Variable.get(WATERMARK, default_var=None)
    return json.loads(text) if text else None


@pytest.mark.dag
def test_manual_syncs_without_a_logical_date_are_incremental_and_never_readd_unsubscribes(
    airflow_db, cc_behaviour_profile, cc_sandbox, cc_connection, app_db, no_watermark
):
    """Under every behaviour profile: an unsubscribe leaves every list and may or may not move updated_at."""
    hook = ConstantContactHook()
    dag = load_dag("constant_contact_sync")
    # No overlap between windows: an opt-out looked for by updated_at would be missed under not_bumped.
    conf = {"list_name": "Synced", "overlap_minutes": 0}
    active = sorted(segment_emails(app_db, "usage_flag = 1"))
    first_unsubscribe, second_unsubscribe, *others = active
    outsider = sorted(segment_emails(app_db, "usage_flag = 0"))[0]
    admin_call(cc_sandbox, "POST", "contacts", {"email": first_unsubscribe, "permission_to_send": "unsubscribed"})
    admin_call(cc_sandbox, "POST", "contacts", {"email": outsider})  # in the account, on no list, before the sync

    # What `airflow dags trigger`, the UI's default manual run and REST with logical_date null create.
    first = dag.test(logical_date=None, run_conf=conf)
    assert first.logical_date is None and first.data_interval_end is None
    assert first.state == "success"
    assert members(hook, "Synced") == set(active) - {first_unsubscribe}
    assert local(app_db, "SELECT unsubscribed FROM app_users WHERE email = ?", first_unsubscribe) == 1
    assert xcom_value(first, "import_changes")["rows_sent"] == len(active) - 1
    assert watermark()["changes_until"] == xcom_value(first, "sync_window")["until"] == first.run_after.isoformat()

    changed, leaving = others[:3], others[3:5]
    with sqlite3.connect(app_db) as conn:
        late = datetime.now(timezone.utc).isoformat()  # after the first sync's window
        conn.executemany(
            "UPDATE app_users SET first_name = 'Renamed', updated_at = ? WHERE email = ?", [(late, e) for e in changed]
        )
        conn.executemany(
            "UPDATE app_users SET usage_flag = 0, updated_at = ? WHERE email = ?", [(late, e) for e in leaving]
        )
        conn.execute(
            "INSERT INTO app_users VALUES (9999, 'newcomer@example.com', 'New', 'Comer', '', 1, ?, 0)", (late,)
        )
        # the outsider joins the segment in the app, but opted out in Constant Contact meanwhile
        conn.execute("UPDATE app_users SET usage_flag = 1, updated_at = ? WHERE email = ?", (late, outsider))
        conn.execute("UPDATE app_users SET updated_at = ? WHERE email = ?", (late, second_unsubscribe))
    for email in (second_unsubscribe, outsider):  # each leaves every list; updated_at moves as the profile says
        admin_call(cc_sandbox, "POST", "contacts", {"email": email, "permission_to_send": "unsubscribed"})
    assert second_unsubscribe not in members(hook, "Synced")

    # A scheduled-like run this time (a logical date): the window still starts at the watermark.
    second = dag.test(logical_date=datetime(2026, 11, 23, tzinfo=timezone.utc), run_conf=conf)
    assert second.state == "success"
    assert xcom_value(second, "sync_window")["changes_since"] == first.run_after.isoformat()
    assert xcom_value(second, "pull_unsubscribes")["unsubscribed"] == 2  # only the opt-outs since the first sync
    imported = xcom_value(second, "import_changes")
    assert imported["rows_read"] == len(changed) + 1  # the renamed users and the newcomer: only the changes
    expected = (set(active) - {first_unsubscribe, second_unsubscribe} - set(leaving)) | {"newcomer@example.com"}
    assert members(hook, "Synced") == expected
    assert hook.find_contact(changed[0])["first_name"] == "Renamed"
    assert xcom_value(second, "remove_leavers")["contacts"] == len(leaving)  # the unsubscribed left by themselves
    for email in (first_unsubscribe, second_unsubscribe, outsider):
        assert email not in members(hook, "Synced")
        assert local(app_db, "SELECT unsubscribed FROM app_users WHERE email = ?", email) == 1
    assert watermark()["changes_until"] == second.run_after.isoformat()


@pytest.mark.dag
def test_a_failed_sync_leaves_the_watermark_and_another_segment_syncs_everything(
    airflow_db, cc_sandbox, cc_connection, app_db, no_watermark
):
    dag = load_dag("constant_contact_sync")
    for task in dag.tasks:
        task.retries = 0  # a broken segment fails the same way every time
    first = dag.test(logical_date=None, run_conf={"list_name": "Synced"})
    assert first.state == "success"
    mark = watermark()

    # A segment the app database refuses fails the run before anything is imported: the watermark stays.
    broken = dag.test(logical_date=None, run_conf={"list_name": "Synced", "segment": "no_such_column = 1"})
    assert broken.state == "failed"
    assert watermark() == mark

    wider = dag.test(logical_date=None, run_conf={"list_name": "Synced", "segment": "usage_flag >= 0"})
    assert wider.state == "success"
    assert xcom_value(wider, "sync_window")["changes_since"] is None  # another segment: everything again
    everyone = segment_emails(app_db, "usage_flag >= 0")
    assert members(ConstantContactHook(), "Synced") == everyone
    assert watermark()["segment"] == "usage_flag >= 0"


def local(db_path, sql: str, *values):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, values).fetchone()[0]
