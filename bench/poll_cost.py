"""
Waiting for a slow import: polls at a fixed interval against polls planned by estimate, one run.

    .venv/bin/python bench/poll_cost.py [--hours 2] [--contacts 2000] [--interval 30]

The sandbox's activities are slowed so that the import takes ``--hours`` (its ``activity_rows_per_second``)
and its clock is moved ahead by each wait instead of sleeping (``POST /__sandbox__/clock``), so hours
pass in seconds while every poll is a real ``GET /activities/{id}`` over loopback. The same import is
waited for twice: ``fixed`` polls every ``--interval`` seconds (the rule before the estimate),
``estimate`` follows :meth:`cc_provider.activity.ActivityWatch.seconds_to_next_poll` with
``poll_interval=--interval``, as the import operators, the sensor's trigger and the worker-side wait do.
Printed per rule: activity polls (requests), log lines, and how long after the activity completed
the wait saw it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cc_provider.activity import ActivityWatch, Outcome  # noqa: E402
from cc_sandbox.config import SandboxConfig  # noqa: E402
from cc_sandbox.server import SandboxServer, airflow_connection  # noqa: E402
from cc_sandbox.testing import FAST_CONFIG, admin_call, reset_sandbox  # noqa: E402

CONN_ID = "cc_bench_poll"


def sandbox_now(server: SandboxServer) -> float:
    return datetime.fromisoformat(admin_call(server, "GET", "clock")["now"].replace("Z", "+00:00")).timestamp()


def submit(hook: Any, contacts: int) -> str:
    body = {
        "import_data": [{"email": f"poll.{n}@example.com"} for n in range(contacts)],
        "list_ids": [hook.create_list(f"Poll bench {os.getpid()} {contacts}")["list_id"]],
    }
    return str(hook.submit_json_import(json.dumps(body).encode())["activity_id"])


def wait(server: SandboxServer, hook: Any, activity_id: str, interval: float, estimate: bool) -> dict[str, Any]:
    """Wait for ``activity_id`` by one rule; the sandbox's clock stands in for sleeping."""
    watch = ActivityWatch([activity_id])
    started = sandbox_now(server)
    end_time = started + 48 * 3600
    polls = lines = 0
    while True:
        polls += 1
        verdict = watch.observe(hook.get_activities(watch.pending), sandbox_now(server))
        lines += len(verdict.lines)
        if verdict.outcome is not Outcome.PENDING:
            break
        delay = watch.seconds_to_next_poll(sandbox_now(server), end_time, interval) if estimate else interval
        assert delay is not None
        admin_call(server, "POST", "clock", {"advance": delay})
    seen = sandbox_now(server)
    completed = hook.get_activity(activity_id).get("completed_at")  # not a poll: the figure's own look-up
    done_at = datetime.fromisoformat(str(completed).replace("Z", "+00:00")).timestamp() if completed else seen
    return {"polls": polls, "log_lines": lines, "waited_h": (seen - started) / 3600, "late_s": seen - done_at}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=30.0)
    args = parser.parse_args()
    rate = args.contacts / (args.hours * 3600)
    config = SandboxConfig(**{**FAST_CONFIG, "activity_rows_per_second": rate, "activity_start_delay": 20.0})
    with SandboxServer(config) as server:
        conn = airflow_connection(server)
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
        from cc_provider.hooks.constant_contact import ConstantContactHook

        rows = []
        for name, estimate in (("fixed", False), ("estimate", True)):
            reset_sandbox(server)
            hook = ConstantContactHook(CONN_ID)
            rows.append((name, wait(server, hook, submit(hook, args.contacts), args.interval, estimate)))
    print(f"one import of {args.contacts} contacts taking {args.hours:g} h; poll interval {args.interval:g} s")
    print(f"{'rule':<10} {'polls':>6} {'log lines':>10} {'waited (h)':>11} {'seen late (s)':>14}")
    for name, row in rows:
        print(f"{name:<10} {row['polls']:>6} {row['log_lines']:>10} {row['waited_h']:>11.2f} {row['late_s']:>14.0f}")


if __name__ == "__main__":
    main()
