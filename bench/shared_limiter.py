"""
Shared request budget: the same parallel load paced per process, then by one budget in a database.

    .venv/bin/python bench/shared_limiter.py [--processes 4] [--requests 20]

The sandbox runs in a subprocess with the real limits (4 API requests a second, 1 token request a
second). The access token is fetched once and shared through a ``file:`` store, so every run measures
API calls only. Then, for each limiter (``rate_limiter`` extra), ``--processes`` forked processes start
together and each makes ``--requests`` calls of ``GET /contact_lists`` with the hook's default retries
(5, back-off from 1 s): ``process`` (each process paces itself at 4 a second), ``sql:`` on a SQLite file,
and ``sql:`` on PostgreSQL (a throwaway server, as the tests start; skipped where it is not installed).
Printed per limiter: the 429 ``throttled`` answers, the requests the sandbox received (answered or
throttled), calls that failed after their retries, and the wall time from the start to the last answer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2e_common import SandboxProcess  # noqa: E402

CONN_ID = "cc_bench"
DB_CONN_ID = "cc_budget_db"
ROUTE = "GET /v3/contact_lists"


def _worker(barrier: Any, results: Any, requests: int) -> None:
    """One process: wait for the others, then make ``requests`` calls; report failures and the end time."""
    from cc_provider.hooks.constant_contact import ConstantContactHook

    hook = ConstantContactHook(CONN_ID)
    barrier.wait(timeout=60)
    failed = 0
    for _ in range(requests):
        try:
            hook.call_json("GET", "/contact_lists")
        except Exception:
            failed += 1
    results.put((failed, time.time()))


def run_load(sandbox: SandboxProcess, rate_limiter: str, processes: int, requests: int, tokens: Path) -> dict[str, Any]:
    """Run the load with ``rate_limiter``; return its figures from the sandbox's stats."""
    conn = json.loads(sandbox.connection)
    conn["extra"].update(rate_limiter=rate_limiter, credential_store=f"file:{tokens}")
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
    from cc_provider.hooks.constant_contact import ConstantContactHook

    hook = ConstantContactHook(CONN_ID)
    hook.run_flow(hook.exchange.tokens.access_token())  # one token for all, before the clock starts
    time.sleep(1.1)  # let the sandbox's bucket refill after the previous run
    before = sandbox.stats()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(barrier, results, requests)) for _ in range(processes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        for worker in workers:
            worker.start()
    barrier.wait(timeout=60)
    started = time.time()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(10)
    after = sandbox.stats()
    return {
        "limiter": rate_limiter,
        "throttled": after["throttled"] - before["throttled"],
        "sent": after["requests"].get(ROUTE, 0) - before["requests"].get(ROUTE, 0),
        "failed": sum(failed for failed, _ in outcomes),
        "seconds": max(end for _, end in outcomes) - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--requests", type=int, default=20, help="calls per process")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cc-bench-limiter-"))
    os.environ["AIRFLOW_HOME"] = str(work / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    rows = []
    with SandboxProcess(work / "sandbox.log") as sandbox:
        load = (args.processes, args.requests, work / "tokens.json")
        rows.append(run_load(sandbox, "process", *load))
        os.environ[f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "sqlite", "host": str(work / "budget.db")}
        )
        rows.append(run_load(sandbox, f"sql:{DB_CONN_ID}", *load) | {"limiter": "sql: (SQLite)"})
        from tests.integration.postgres import postgres_server

        try:
            with postgres_server() as server:
                os.environ[f"AIRFLOW_CONN_{DB_CONN_ID.upper()}"] = server.airflow_conn
                from cc_provider.hooks import _budget

                _budget._budgets.clear()  # the same conn id names another database now
                rows.append(run_load(sandbox, f"sql:{DB_CONN_ID}", *load) | {"limiter": "sql: (PostgreSQL)"})
        except BaseException as err:  # pytest.skip outside pytest: no server binaries here
            if type(err).__name__ != "Skipped":
                raise
            print(f"PostgreSQL skipped: {err}")
    total = args.processes * args.requests
    print(f"\n{args.processes} processes x {args.requests} calls = {total}, sandbox limit 4 requests/s")
    print(f"| {'rate_limiter':<18} | throttled (429) | requests sent | failed calls | wall time (s) |")
    print(f"|{'-' * 20}|----------------:|--------------:|-------------:|--------------:|")
    for row in rows:
        print(
            f"| {row['limiter']:<18} | {row['throttled']:>15} | {row['sent']:>13} | {row['failed']:>12} "
            f"| {row['seconds']:>13.1f} |"
        )
    print(f"\nfloor at 4 requests/s: {(total - 4) / 4:.1f} s")


if __name__ == "__main__":
    main()
