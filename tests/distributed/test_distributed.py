"""
The example DAGs, unchanged but for configuration, on a real CeleryExecutor deployment (tests/distributed/
deployment.py): two workers that share no disk, staging on S3, tokens and the request budget in PostgreSQL.

The tests run in order on one deployment: the three example DAGs, five concurrent runs on rotating
tokens, a worker killed mid-upload, and last the workers' disks. Figures go to
``test-artifacts/distributed/figures.json`` (README, "Deploying on Celery or Kubernetes").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cc_sandbox.app_db import synthetic_users
from tests.distributed.deployment import ARTIFACTS, VERIFIER, WORKERS, Deployment, deployment

pytestmark = pytest.mark.distributed

IMPORT_ROUTE = "POST /v3/activities/contacts_json_import"
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    started = time.monotonic()
    with deployment() as dep:
        for dag_id in ("constant_contact_new_list", "constant_contact_usage_segments", "constant_contact_sync"):
            dep.wait_for_dag(dag_id)
        FIGURES["start_seconds"] = round(time.monotonic() - started, 1)
        yield dep
    (ARTIFACTS / "figures.json").write_text(json.dumps(FIGURES, indent=2, sort_keys=True))


@pytest.fixture(scope="module")
def verifier(deployed: Deployment) -> Iterator[Any]:
    """A hook on the sandbox with a client of its own (its own rate budget), to read the lists back."""
    from cc_provider.hooks.constant_contact import ConstantContactHook

    client_id, secret, refresh_token = VERIFIER
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW_CONN_CC_VERIFIER",
            json.dumps(
                {
                    "conn_type": "constant_contact",
                    "login": client_id,
                    "password": secret,
                    "extra": {
                        "refresh_token": refresh_token,
                        "api_base_url": f"{deployed.sandbox.url}/v3",
                        "auth_base_url": f"{deployed.sandbox.url}/oauth2/default/v1",
                    },
                }
            ),
        )
        yield ConstantContactHook("cc_verifier")


def valid_emails(flag: int | None = None) -> set[str]:
    """The app users the provider can import (every 40th has no email, every 25th a malformed one)."""
    return {
        str(email)
        for user_id, email, *_, usage_flag, _, unsubscribed in synthetic_users(300)
        if user_id % 40 and user_id % 25 and not unsubscribed and (flag is None or usage_flag == flag)
    }


def members(hook: Any, list_name: str) -> list[str]:
    found = hook.find_list_by_name(list_name)
    assert found is not None, f"no list {list_name!r}"
    return [str(c["email_address"]["address"]).lower() for c in hook.iter_contacts(lists=found["list_id"])]


def assert_exact(hook: Any, list_name: str, expected: set[str]) -> None:
    got = members(hook, list_name)
    assert len(got) == len(set(got)), f"{list_name}: a contact listed twice"
    assert set(got) == expected, (
        f"{list_name}: missing {sorted(expected - set(got))[:5]}, unexpected {sorted(set(got) - expected)[:5]}"
    )


def wait_success(dep: Deployment, dag_id: str, run_ids: list[str], timeout: float) -> None:
    states = dep.wait_for_runs(dag_id, run_ids, timeout)
    failed = {run: state for run, state in states.items() if state != "success"}
    if failed:
        details = {
            run: [(ti["task_id"], ti["state"], ti.get("try_number")) for ti in dep.task_instances(dag_id, run)]
            for run in failed
        }
        pytest.fail(f"{dag_id}: runs did not succeed: {details}\n{dep.logs()}")


def test_the_three_example_dags_land_every_contact(deployed: Deployment, verifier: Any) -> None:
    started = time.monotonic()
    new_list = deployed.trigger("constant_contact_new_list", {"list_name": "Distributed: app users"})
    segments = deployed.trigger("constant_contact_usage_segments")
    # the sync DAG is scheduled (@daily, unpaused at creation): its latest interval runs by itself
    deadline = time.monotonic() + 60
    while not (sync_runs := deployed.api("GET", "dags/constant_contact_sync/dagRuns")["dag_runs"]):
        assert time.monotonic() < deadline, "the scheduler made no run of constant_contact_sync"
        time.sleep(1)
    wait_success(deployed, "constant_contact_new_list", [new_list], 300)
    wait_success(deployed, "constant_contact_usage_segments", [segments], 300)
    wait_success(deployed, "constant_contact_sync", [r["dag_run_id"] for r in sync_runs], 300)
    FIGURES["three_dags_seconds"] = round(time.monotonic() - started, 1)

    assert_exact(verifier, "Distributed: app users", valid_emails())
    assert_exact(verifier, "App users - usage flag 0", valid_emails(0))
    assert_exact(verifier, "App users - usage flag 1", valid_emails(1))
    assert_exact(verifier, "Active app users", valid_emails(1))
    hosts = {
        ti.get("hostname")
        for dag_id, run in (("constant_contact_new_list", new_list), ("constant_contact_usage_segments", segments))
        for ti in deployed.task_instances(dag_id, run)
    }
    assert set(WORKERS) <= hosts, f"the tasks ran on {hosts}: both workers should have taken some"
    stats = deployed.sandbox.stats()
    FIGURES["three_dags_sandbox"] = {k: stats[k] for k in ("refreshes", "invalid_grants", "throttled")}


def test_five_concurrent_runs_rotate_tokens_without_a_single_invalid_grant(deployed: Deployment, verifier: Any) -> None:
    before = deployed.sandbox.stats()
    started = time.monotonic()
    runs = [
        deployed.trigger("constant_contact_new_list", {"list_name": f"Distributed: concurrent {n}"}) for n in range(5)
    ]
    wait_success(deployed, "constant_contact_new_list", runs, 600)
    after = deployed.sandbox.stats()
    for n in range(5):
        assert_exact(verifier, f"Distributed: concurrent {n}", valid_emails())
    FIGURES["five_runs"] = {
        "seconds": round(time.monotonic() - started, 1),
        "refreshes": after["refreshes"] - before["refreshes"],
        "invalid_grants": after["invalid_grants"] - before["invalid_grants"],
        "throttled": after["throttled"] - before["throttled"],
        "token_throttled": after["token_throttled"] - before["token_throttled"],
        "api_requests": sum(after["requests"].values()) - sum(before["requests"].values()),
    }
    assert after["refreshes"] > before["refreshes"], "the access tokens (8 s) should have been refreshed"
    assert after["invalid_grants"] == before["invalid_grants"] == 0


def test_a_worker_killed_mid_upload_loses_nothing_and_posts_nothing_twice(deployed: Deployment, verifier: Any) -> None:
    # the next import request hangs for 60 s (then would fail): the worker dies while it is in flight
    deployed.sandbox.admin(
        "POST", "faults", {"path": "/v3/activities/contacts_json_import", "method": "POST", "status": 503, "delay": 60}
    )
    before = deployed.sandbox.stats()
    run = deployed.trigger("constant_contact_new_list", {"list_name": "Distributed: worker lost"})
    deadline = time.monotonic() + 180
    while deployed.sandbox.stats()["requests"].get(IMPORT_ROUTE, 0) == before["requests"].get(IMPORT_ROUTE, 0):
        assert time.monotonic() < deadline, "the import request never arrived"
        time.sleep(0.5)
    victim = deployed.worker_running("constant_contact_new_list", run, "import_contacts")
    assert victim is not None, "import_contacts is not running on a worker"
    deployed.kill_worker(victim)
    killed_at = time.monotonic()
    wait_success(deployed, "constant_contact_new_list", [run], 300)
    FIGURES["worker_lost_recovery_seconds"] = round(time.monotonic() - killed_at, 1)

    tries = deployed.tries("constant_contact_new_list", run, "import_contacts")
    assert [t["hostname"] for t in tries][0] == victim
    assert tries[-1]["hostname"] not in (None, victim) and tries[-1]["state"] == "success"
    after = deployed.sandbox.stats()
    assert after["requests"][IMPORT_ROUTE] - before["requests"].get(IMPORT_ROUTE, 0) == 2  # the lost one, the retry
    assert after["import_posts"] - before["import_posts"] == 1  # only the retry's reached the import
    assert_exact(verifier, "Distributed: worker lost", valid_emails())


def test_nothing_of_the_runs_is_left_on_the_workers_disks(deployed: Deployment) -> None:
    """The killed task's scratch folder stays on its disk until the next task on that worker sweeps it."""
    lost = [name for name, proc in deployed.workers.items() if proc.poll() is not None]
    assert lost, "the previous test killed a worker"
    left = deployed.leftovers()
    assert any(left[name] for name in lost), "a task killed with SIGKILL cannot remove its scratch folder"
    # the lost host comes back, the other leaves: the next run's tasks all run on the returning worker
    for name in lost:
        deployed.start_worker(name)  # same home and TMPDIR: the same host
    for name in WORKERS:
        if name not in lost:
            deployed.stop_worker(name)
    run = deployed.trigger("constant_contact_new_list", {"list_name": "Distributed: after the loss"})
    wait_success(deployed, "constant_contact_new_list", [run], 300)
    left = deployed.leftovers()
    assert left == {name: [] for name in WORKERS}, left
