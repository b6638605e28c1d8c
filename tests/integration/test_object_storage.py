"""
Sources, rejects files, exports and the example DAGs' staging in object storage (``memory://``, ``file://``).

``memory://`` is fsspec's in-process object store: no Airflow provider brings it, so it also shows that
a scheme without a provider goes through fsspec's own filesystem. Each test has its own bucket.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import TaskDeferred

from cc_provider import storage
from cc_provider.contacts.uploads import iter_json_import_batches
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.csv_import import ConstantContactImportCsvOperator
from cc_provider.operators.exports import ConstantContactExportContactsOperator
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_sandbox.app_db import synthetic_users
from cc_sandbox.testing import flag_emails, patch_config
from tests.conftest import REPO
from tests.integration.helpers import (
    RecordingTaskInstance,
    run_task,
    slow_activities,
    trigger_events,
    use_app_db,
    wait_until,
    xcom_value,
)

GOOD = [f"good{i}@example.com" for i in range(8)]
FLAGGED = "flagged@example.com"  # passes the local checks; the sandbox's API rejects it
EMAILS = [GOOD[0], "not-an-email", *GOOD[1:], FLAGGED]


@pytest.fixture
def task_tmp(tmp_path, monkeypatch) -> Path:
    """The task's temporary directory: everything the operators stage locally goes here."""
    directory = tmp_path / "task-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def hook(cc_connection, monkeypatch) -> ConstantContactHook:
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    return ConstantContactHook()


def source_bytes(kind: str, emails: list[str] = EMAILS) -> bytes:
    if kind == "csv":
        lines = ["email,first_name", *(f"{email},Name" for email in emails)]
        return ("\n".join(lines) + "\n").encode()
    return json.dumps([{"email": email, "first_name": "Name"} for email in emails]).encode()


def put(location: str, content: bytes) -> str:
    with storage.open_write(location) as handle:
        handle.write(content)
    return location


def rejects_of(location: str) -> list[dict[str, str]]:
    with storage.open_read(location) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))


def operator_for(kind: str):
    return ConstantContactImportCsvOperator if kind == "csv" else ConstantContactImportJsonOperator


@pytest.mark.parametrize("where", ["memory", "file"])
@pytest.mark.parametrize("kind", ["csv", "json"])
def test_an_import_reads_a_url_and_writes_its_rejects_to_object_storage(
    hook, cc_sandbox, bucket, task_tmp, tmp_path, kind, where
):
    if where == "memory":
        source = put(f"{bucket}/in/people.{kind}", source_bytes(kind))
    else:
        local = tmp_path / f"people.{kind}"
        local.write_bytes(source_bytes(kind))
        source = local.as_uri()
    rejects = f"{bucket}/out/rejects.csv"
    list_id = hook.create_list(f"From {where} {kind}")["list_id"]
    flag_emails(cc_sandbox, FLAGGED)
    summary = run_task(
        operator_for(kind)(
            task_id="import",
            path=ObjectStoragePath(source) if kind == "json" else source,  # both forms are taken
            rejects_path=rejects,
            list_ids=[list_id],
            max_contacts_per_request=4,
            wait_for_completion=True,
            deferrable=False,
            poll_interval=0.05,
        ),
        deferred=False,
    )
    assert (summary["rows_read"], summary["rows_rejected"], summary["rows_sent"]) == (10, 1, 9)
    assert summary["rows_rejected_by_api"] == 1 and summary["rows_imported"] == 8
    assert {c["email_address"]["address"] for c in hook.iter_contacts(lists=list_id)} == set(GOOD)
    assert summary["source"] == (source if where == "memory" else str(tmp_path / f"people.{kind}"))
    first = 2 if kind == "csv" else 1  # the source row of the first record
    lines = rejects_of(rejects)
    assert [(int(r["row_number"]), r["value"]) for r in lines][:1] == [(first + 1, "not-an-email")]
    assert [(int(r["row_number"]), r["reason"]) for r in lines[1:]] == [
        (first + 9, f"rejected by the API: Invalid email address '{FLAGGED}'")
    ]
    assert list(task_tmp.iterdir()) == []  # the copies and the local rejects went with the task


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_after_a_deferral_the_object_is_read_again_to_name_the_rows_the_api_rejected(
    hook, cc_sandbox, bucket, task_tmp, kind
):
    source = put(f"{bucket}/people.{kind}", source_bytes(kind))
    rejects = f"{bucket}/rejects.csv"
    list_id = hook.create_list(f"Deferred {kind}")["list_id"]
    flag_emails(cc_sandbox, FLAGGED)
    patch_config(cc_sandbox, activity_start_delay=1.0)  # still pending at the first look: the task defers
    try:
        summary = run_task(
            operator_for(kind)(
                task_id="import",
                path=source,
                rejects_path=rejects,
                list_ids=[list_id],
                wait_for_completion=True,
                deferrable=True,
                poll_interval=0.05,
            ),
            deferred=True,
        )
    finally:
        patch_config(cc_sandbox, activity_start_delay=0.0)
    assert summary["rows_imported"] == 8
    lines = rejects_of(rejects)
    assert [r["value"] for r in lines] == ["not-an-email", ""]  # the local reject was uploaded before deferring
    assert lines[1]["reason"] == f"rejected by the API: Invalid email address '{FLAGGED}'"
    assert list(task_tmp.iterdir()) == []


def test_a_dry_run_uploads_its_rejects_and_sends_nothing(hook, cc_sandbox, bucket, task_tmp):
    source = put(f"{bucket}/people.csv", source_bytes("csv"))
    rejects = f"{bucket}/dry/rejects.csv"
    summary = run_task(
        ConstantContactImportCsvOperator(
            task_id="import",
            path=source,
            rejects_path=rejects,
            list_ids=["00000000-0000-0000-0000-000000000000"],
            dry_run=True,
        ),
        deferred=False,
    )
    assert summary["dry_run"] and summary["rows_sent"] == 0
    assert [r["value"] for r in rejects_of(rejects)] == ["not-an-email"]
    assert list(task_tmp.iterdir()) == []


def test_a_changed_object_does_not_resume_the_record_of_the_one_before(hook, cc_sandbox, bucket, task_tmp):
    """The resume fingerprint is the object's URL, size and version, never the path of its local copy."""
    source = f"{bucket}/people.csv"
    list_id = hook.create_list("Fingerprints")["list_id"]

    def source_fingerprint() -> str:
        task = ConstantContactImportCsvOperator(task_id="import", path=source, list_ids=[list_id])
        return run_task(task, deferred=False)["source_fingerprint"]

    put(source, source_bytes("csv"))
    first = source_fingerprint()
    assert source_fingerprint() == first  # another try, another local copy: the same input
    put(source, source_bytes("csv", [e.replace("good", "gold") for e in EMAILS]))  # same size, new content
    assert source_fingerprint() != first


def test_an_unreadable_object_after_a_deferral_reports_rejects_per_request(hook, cc_sandbox, bucket, task_tmp):
    source = put(f"{bucket}/people.json", source_bytes("json"))
    rejects = f"{bucket}/rejects.csv"
    list_id = hook.create_list("Gone")["list_id"]
    flag_emails(cc_sandbox, FLAGGED)
    patch_config(cc_sandbox, activity_start_delay=1.0)
    task = ConstantContactImportJsonOperator(
        task_id="import",
        path=source,
        rejects_path=rejects,
        list_ids=[list_id],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.05,
    )
    ti = RecordingTaskInstance()
    try:
        with pytest.raises(TaskDeferred) as raised:
            task.execute({"ti": ti})
        fsspec.filesystem("memory").rm(storage.as_storage_path(source).path)  # gone before the task resumes
        (event,) = asyncio.run(trigger_events(raised.value.trigger))
    finally:
        patch_config(cc_sandbox, activity_start_delay=0.0)
    summary = task.execute_complete({"ti": ti}, event=event)
    assert summary["rows_imported"] == 8 and summary["rows_rejected_by_api_unidentified"] == 1
    lines = rejects_of(rejects)
    assert lines[1]["value"].startswith("request 1: rows unknown")
    assert list(task_tmp.iterdir()) == []


def test_an_export_is_written_to_object_storage(hook, cc_sandbox, bucket):
    list_id = hook.create_list("Exported")["list_id"]
    (batch,) = iter_json_import_batches([(n, {"email": e}) for n, e in enumerate(GOOD[:3], 1)], [list_id])
    activity_id = hook.submit_json_import(batch.body)["activity_id"]
    wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
    target = f"{bucket}/exports/list.csv"
    result = ConstantContactExportContactsOperator(
        task_id="export", path=ObjectStoragePath(target), list_ids=[list_id], poll_interval=0.05
    ).execute({"ti": RecordingTaskInstance()})
    assert result == {"path": target, "activity_id": result["activity_id"], "rows": 3}
    with storage.open_read(target) as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")))
    assert sorted(r["email_address"] for r in rows) == GOOD[:3]


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    resetdb()
    Pool.create_or_update_pool("constant_contact_api", 2, "Constant Contact API", include_deferred=False)


@pytest.mark.dag
def test_the_new_list_dag_stages_in_object_storage(
    airflow_db, cc_sandbox, cc_connection, tmp_path, monkeypatch, bucket
):
    """With ``staging_url`` on an object store, every staged file is there and none on local disk."""
    from airflow.dag_processing.dagbag import DagBag

    use_app_db(tmp_path, monkeypatch, users=120, staging_url=f"{bucket}/staging")
    slow_activities(cc_sandbox, start_delay=0.5, rows_per_second=500)  # it defers
    try:
        dag = DagBag(dag_folder=str(REPO / "dags" / "constant_contact_new_list.py")).get_dag(
            "constant_contact_new_list"
        )
        for task in dag.tasks:
            task.retry_delay = timedelta(seconds=1)
        run = dag.test(run_conf={"list_name": "Staged in memory"})
    finally:
        slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)
    assert run.state == "success"
    users = synthetic_users(120)
    bad = sum(1 for u in users if u[1] is None or "@" not in u[1])
    summary = xcom_value(run, "verify")
    assert (summary["rows_read"], summary["rejected_locally"], summary["verified_members"]) == (120, bad, 120 - bad)
    staged = sorted(p.rsplit("/", 1)[-1] for p in fsspec.filesystem("memory").find(f"{bucket[len('memory:/') :]}"))
    assert staged == ["contacts.jsonl", "extracted.jsonl", "rejects.csv"]
    assert xcom_value(run, "format_contacts", "path").startswith(f"{bucket}/staging/")
    assert not (tmp_path / "staging").exists()


@pytest.mark.dag
@pytest.mark.parametrize(
    "dag_id, conf, staged",
    [
        (
            "constant_contact_usage_segments",
            {"low_usage_list": "Memory 0", "active_list": "Memory 1"},
            ["expected.txt", "expected.txt", "rejects.csv", "rejects.csv"],
        ),
        (
            "constant_contact_sync",
            {"list_name": "Synced in memory"},
            ["changes.jsonl", "expected.txt", "rejects.csv", "segment.jsonl"],
        ),
    ],
)
def test_the_other_examples_stage_in_object_storage(
    airflow_db, cc_sandbox, cc_connection, tmp_path, monkeypatch, bucket, dag_id, conf, staged
):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.variable import Variable

    Variable.delete(f"{dag_id}__watermark")  # the sync syncs everything
    use_app_db(tmp_path, monkeypatch, users=80, staging_url=f"{bucket}/staging")
    dag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py")).get_dag(dag_id)
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=1)
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    found = fsspec.filesystem("memory").find(bucket[len("memory:/") :])
    assert sorted(p.rsplit("/", 1)[-1] for p in found) == staged
    assert not (tmp_path / "staging").exists()
