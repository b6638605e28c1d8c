"""
Seed 002's "keep the local source in sync": a scheduled, incremental sync of one segment to one list.

Each run
1. reads the window of this run: from the last successful sync (a watermark the DAG keeps in the
   Airflow Variable ``<dag_id>__watermark``) up to the run's ``run_after``, which every run has, also
   a manual one without a logical date; the first run, or a run whose list or segment differ from the
   last successful one's, syncs everything;
2. pulls the contacts who opted out in Constant Contact since the last successful sync
   (``GET /contacts?status=unsubscribed&optout_after=``: an opt-out date, whether or not an unsubscribe
   moves ``updated_at``) and marks them in the app database, so nobody who unsubscribed is ever imported
   again (Constant Contact takes an unsubscribed contact off every list itself);
3. imports (upserts) the segment's users changed in the window;
4. in mirror mode, removes from the list the contacts who left the segment;
5. verifies the list against the segment, and only then moves the watermark.

Every task that calls the API runs in the ``constant_contact_api`` pool and is retried (README,
"Request budget"). Delete the watermark Variable to sync everything again.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.lists import ConstantContactCreateListOperator
from cc_provider.operators.membership import ConstantContactRemoveFromListOperator, ConstantContactVerifyListOperator
from cc_provider.staging import iter_valid_emails, open_text, run_staging_dir, write_cursor_rows

POLL_SECONDS = float(os.environ.get("CC_EXAMPLE_POLL_SECONDS", "15"))
RETRY_DELAY_SECONDS = float(os.environ.get("CC_EXAMPLE_RETRY_DELAY_SECONDS", "120"))
API_POOL = "constant_contact_api"
COLUMNS = "email, first_name, last_name, company"
UPDATE_BATCH = 500


def _app_time(moment: datetime) -> str:
    """A time for the app database's ``updated_at`` (ISO 8601 in UTC, as the app writes it)."""
    return moment.astimezone(timezone.utc).isoformat()


def _api_time(moment: datetime) -> str:
    """A time for the API's date filters, in the spec's own form (``2022-11-16T16:20:59.091Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _db(params: dict[str, Any]) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(params["app_db_conn_id"]).get_hook()


def _last_sync(dag_id: str, params: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The watermark's key, and the last successful sync of this list and segment (``None``: sync everything)."""
    from airflow.sdk import Variable

    key = f"{dag_id}__watermark"
    text = Variable.get(key, default=None)
    if not text:
        return key, None
    try:
        last = json.loads(text)
        datetime.fromisoformat(last["changes_until"]), datetime.fromisoformat(last["optouts_pulled_at"])
    except (ValueError, TypeError, KeyError):
        print(f"Variable {key} does not hold a watermark written by this DAG: syncing everything.")
        return key, None
    if (last.get("list_name"), last.get("segment")) != (params["list_name"], params["segment"]):
        print(f"The last sync was of {last.get('list_name')!r} / {last.get('segment')!r}: syncing everything.")
        return key, None
    return key, last


# [START howto_constant_contact_sync]
with DAG(
    dag_id="constant_contact_sync",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS)},
    tags=["example", "constant_contact"],
    params={
        "list_name": Param("Active app users", type="string", maxLength=255),
        "segment": Param("usage_flag = 1", type="string", description="SQL condition selecting the segment"),
        "mirror": Param(True, type="boolean", description="remove from the list whoever left the segment"),
        "app_db_conn_id": Param("app_db", type="string"),
        "overlap_minutes": Param(
            15,
            type="integer",
            minimum=0,
            description="start each window this long before the last one ended: a row committed late, or a "
            "clock a little behind, is sent again (an upsert: harmless) rather than missed",
        ),
    },
) as dag:
    sync_list = ConstantContactCreateListOperator(task_id="sync_list", name="{{ params.list_name }}", pool=API_POOL)

    @task
    def sync_window(params: dict[str, Any], dag_run: Any) -> dict[str, Any]:
        """From the last successful sync of this list and segment (the watermark) to the run's run_after."""
        until: datetime = dag_run.run_after  # set on every run, also one triggered without a logical date
        _, last = _last_sync(dag_run.dag_id, params)
        window: dict[str, Any] = {"until": _app_time(until), "changes_since": None, "optouts_since": None}
        if last:
            overlap = timedelta(minutes=params["overlap_minutes"])
            window["changes_since"] = _app_time(datetime.fromisoformat(last["changes_until"]) - overlap)
            window["optouts_since"] = _api_time(datetime.fromisoformat(last["optouts_pulled_at"]) - overlap)
        print(f"Sync window: {window}")
        return window

    @task(pool=API_POOL)
    def pull_unsubscribes(window: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """Mark in the app database everyone who opted out in Constant Contact since the last good sync."""
        pulled_at = datetime.now(timezone.utc)  # before the request: a later opt-out is in the next window
        filters = {"status": "unsubscribed"}
        if window["optouts_since"]:
            filters["optout_after"] = window["optouts_since"]
        emails = [
            str(c["email_address"]["address"]).lower()
            for c in ConstantContactHook().iter_contacts(**filters)
            if (c.get("email_address") or {}).get("address")
        ]
        db = _db(params)
        for start in range(0, len(emails), UPDATE_BATCH):
            chunk = emails[start : start + UPDATE_BATCH]
            marks = ", ".join([db.placeholder] * len(chunk))
            db.run(f"UPDATE app_users SET unsubscribed = 1 WHERE lower(email) IN ({marks})", parameters=chunk)
        return {"unsubscribed": len(emails), "pulled_at": pulled_at.isoformat()}

    @task(multiple_outputs=True)
    def extract_changes(window: dict[str, Any], params: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Stream the segment's subscribed users changed in the window (all of them on a first sync)."""
        db = _db(params)
        mark = db.placeholder
        sql = f"SELECT {COLUMNS} FROM app_users WHERE ({params['segment']}) AND unsubscribed = 0"
        sql += f" AND updated_at < {mark}"
        values = [window["until"]]
        if window["changes_since"]:
            sql += f" AND updated_at >= {mark}"
            values.append(window["changes_since"])
        out = run_staging_dir(run_id) / "changes.jsonl"
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(sql + " ORDER BY id", values)
            rows = write_cursor_rows(cursor, out)
        return {"path": str(out), "rows": rows, "rejects_path": str(out.with_name("rejects.csv"))}

    window = sync_window()
    pulled = pull_unsubscribes(window)
    changes = extract_changes(window)
    import_changes = ConstantContactImportJsonOperator(
        task_id="import_changes",
        path=changes["path"],
        rejects_path=changes["rejects_path"],
        list_ids=[sync_list.output],
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_SECONDS,
        pool=API_POOL,
    )

    @task(multiple_outputs=True, pool=API_POOL)
    def find_leavers(list_id: str, params: dict[str, Any], run_id: str) -> dict[str, Any]:
        """Write the segment's valid addresses; return the list members no longer in it (mirror mode)."""
        out = run_staging_dir(run_id) / "segment.jsonl"
        db = _db(params)
        with db.get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute(f"SELECT {COLUMNS} FROM app_users WHERE ({params['segment']}) AND unsubscribed = 0")
            write_cursor_rows(cursor, out)
        expected = out.with_name("expected.txt")
        segment = set()
        with open_text(expected, "w") as handle:
            for email in iter_valid_emails(str(out)):
                segment.add(email)
                handle.write(email + "\n")
        leavers = []
        if params["mirror"]:
            for contact in ConstantContactHook().iter_contacts(lists=list_id):
                if str((contact.get("email_address") or {}).get("address", "")).lower() not in segment:
                    leavers.append(contact["contact_id"])
        return {"contact_ids": leavers, "expected_path": str(expected)}

    leavers = find_leavers(sync_list.output)
    remove_leavers = ConstantContactRemoveFromListOperator(
        task_id="remove_leavers",
        list_ids=[sync_list.output],
        contact_ids=leavers["contact_ids"],
        deferrable=True,
        poll_interval=POLL_SECONDS,
        pool=API_POOL,
    )
    verify = ConstantContactVerifyListOperator(
        task_id="verify",
        list_id=sync_list.output,
        expected_emails=leavers["expected_path"],
        allow_unexpected="{{ not params.mirror }}",
        pool=API_POOL,
    )

    @task
    def record_sync(window: dict[str, Any], pulled: dict[str, Any], params: dict[str, Any], dag_run: Any) -> None:
        """Move the watermark: the next run starts where this verified one ended."""
        from airflow.sdk import Variable

        key, last = _last_sync(dag_run.dag_id, params)
        until = window["until"]
        if last:  # never move it back (a run whose run_after is older than the last sync's)
            until = max(until, last["changes_until"], key=datetime.fromisoformat)
        mark = {
            "list_name": params["list_name"],
            "segment": params["segment"],
            "changes_until": until,
            "optouts_pulled_at": pulled["pulled_at"],
            "run_id": dag_run.run_id,
        }
        Variable.set(key, json.dumps(mark), description=f"Last successful sync of {dag_run.dag_id}; delete to resync")

    pulled >> changes
    import_changes >> leavers >> remove_leavers >> verify >> record_sync(window, pulled)
# [END howto_constant_contact_sync]
