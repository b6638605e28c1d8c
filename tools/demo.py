"""
`make demo`: run the example DAG end to end against a local sandbox and print what landed.

Starts ``python -m cc_sandbox`` on a free loopback port, creates a synthetic app database,
points the Airflow connections at both through environment variables, creates the pool the example
DAGs put their API tasks in, runs ``airflow dags test constant_contact_new_list`` and prints the verify
task's summary.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / ".airflow"
DAG_ID = "constant_contact_new_list"
API_POOL = ("constant_contact_api", "2", "Constant Contact API: 4 requests a second per API key")
READY = "Sandbox ready at "


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cc_sandbox", "--port", "0", "--activity-rows-per-second", "100"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    deadline = time.time() + 30
    for line in proc.stdout:
        if line.startswith(READY):
            return proc, line[len(READY) :].strip()
        if time.time() > deadline:
            break
    proc.terminate()
    raise SystemExit("The sandbox did not start; run `python -m cc_sandbox` to see why.")


def airflow_env(sandbox_url: str, app_db: Path) -> dict[str, str]:
    conn = {
        "conn_type": "constant_contact",
        "login": "cc-sandbox-client-id",
        "password": "cc-sandbox-client-secret",
        "extra": {
            "refresh_token": "cc-sandbox-refresh-token",
            "api_base_url": f"{sandbox_url}/v3",
            "auth_base_url": f"{sandbox_url}/oauth2/default/v1",
        },
    }
    return {
        **os.environ,
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT": json.dumps(conn),
        "AIRFLOW_CONN_APP_DB": json.dumps({"conn_type": "sqlite", "host": str(app_db)}),
        "CC_EXAMPLE_POLL_SECONDS": "2",
        "AIRFLOW__CONSTANT_CONTACT__STAGING_URL": str(AIRFLOW_HOME / "staging"),  # the default, said here
    }


def latest_summary() -> tuple[str | None, dict | None]:
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        run = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        if run is None:
            return None, None
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'verify' AND key = 'return_value'",
            (DAG_ID, run[0]),
        ).fetchone()
    value = json.loads(row[0]) if row else None
    return run[1], value if isinstance(value, dict) else None


def main() -> int:
    from cc_sandbox.app_db import create_app_db

    AIRFLOW_HOME.mkdir(exist_ok=True)
    app_db = create_app_db(AIRFLOW_HOME / "app.db", users=300)
    sandbox, url = start_sandbox()
    print(f"Sandbox running at {url}; app database {app_db} (300 users).", flush=True)
    try:
        env = airflow_env(url, app_db)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [sys.executable, "-m", "airflow", "pools", "set", *API_POOL], env=env, check=True, capture_output=True
        )
        result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", DAG_ID], env=env)
        with urllib.request.urlopen(f"{url}/__sandbox__/stats") as resp:
            stats = json.load(resp)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=15)
    state, summary = latest_summary()
    print("\n=== Constant Contact demo ===")
    if summary is None:
        print(f"The DAG run ended {state or 'without a run'}; no verified summary. See the log above.")
        return 1
    print(f"List:               {summary['list_id']}")
    print(f"Rows read:          {summary['rows_read']}")
    print(f"Rejected locally:   {summary['rejected_locally']}  (see .airflow/staging/*/rejects.csv)")
    print(f"Sent to the API:    {summary['sent']}")
    print(f"Rejected by the API:{summary['rejected_by_api']:>5}")
    for error in summary["api_errors"][:3]:
        print(f"    {error}")
    print(f"Verified members:   {summary['verified_members']} (expected {summary['expected_members']})")
    print(f"API requests made:  {sum(stats['requests'].values())}")
    print(f"DAG run state:      {state}")
    return 0 if result.returncode == 0 and state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
