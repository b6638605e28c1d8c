"""
One request budget for several processes: ``rate_limiter=sql:<conn id>`` against the sandbox's real 4 a second.

Four forked processes start together and each sends its requests as fast as its pacing lets it, with no
retries: a ``throttled`` answer fails the process. With the budget in a shared SQLite file (or PostgreSQL,
skipped where the server is not installed) the sandbox answers no 429 and the requests are spread at
4 a second; with each process pacing only itself (``process``, the default) the sandbox throttles them.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import warnings

import pytest

from cc_provider.hooks._budget import TABLE
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer, airflow_connection
from cc_sandbox.testing import FAST_CONFIG, reset_sandbox, sandbox_stats
from tests.integration.helpers import empty_database
from tests.integration.postgres import postgres  # noqa: F401 (fixture, through getfixturevalue)

PROCESSES = 4
REQUESTS = 8
CONN_ENV = "AIRFLOW_CONN_CC_BUDGET"
DB_CONN_ENV = "AIRFLOW_CONN_CC_BUDGET_DB"


@pytest.fixture(scope="module")
def limited_sandbox():
    with SandboxServer(SandboxConfig(**{**FAST_CONFIG, "rate_limit_per_second": 4.0})) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def budget_db(request, tmp_path, monkeypatch) -> str:
    """The ``rate_limiter`` extra naming an empty budget database."""
    monkeypatch.setenv(DB_CONN_ENV, empty_database(request.param, request, tmp_path, TABLE))
    return "sql:cc_budget_db"


def connect(server: SandboxServer, rate_limiter: str, tmp_path, monkeypatch) -> None:
    """Point ``cc_budget`` at the reset sandbox, share one token through a file, and fetch it before forking."""
    reset_sandbox(server)
    conn = airflow_connection(server)
    conn["extra"].update(rate_limiter=rate_limiter, credential_store=f"file:{tmp_path / 'tokens.json'}")
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    from cc_provider.hooks.constant_contact import ConstantContactHook

    hook = ConstantContactHook("cc_budget")
    hook.run_flow(hook.exchange.tokens.access_token())  # warms Airflow's lazy caches too


def _child(barrier, results) -> None:
    """One worker: wait for the others, then send REQUESTS calls without retries; report the wall-clock span."""
    try:
        from cc_provider.hooks.constant_contact import ConstantContactHook

        hook = ConstantContactHook("cc_budget", max_retries=0)
        barrier.wait(timeout=30)
        started = time.time()
        for _ in range(REQUESTS):
            hook.call_json("GET", "/contact_lists")
        results.put(("ok", started, time.time()))
    except BaseException as err:  # report everything: the parent asserts on it
        results.put((f"{type(err).__name__}: {err}", 0.0, 0.0))


def run_workers() -> list[tuple[str, float, float]]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_child, args=(barrier, results)) for _ in range(PROCESSES)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        for worker in workers:
            worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    return outcomes


def test_a_shared_budget_keeps_every_process_inside_the_limit(limited_sandbox, budget_db, tmp_path, monkeypatch):
    connect(limited_sandbox, budget_db, tmp_path, monkeypatch)
    outcomes = run_workers()
    assert [status for status, _, _ in outcomes] == ["ok"] * PROCESSES
    stats = sandbox_stats(limited_sandbox)
    assert stats["throttled"] == 0
    assert stats["requests"]["GET /v3/contact_lists"] == PROCESSES * REQUESTS
    span = max(end for _, _, end in outcomes) - min(start for _, start, _ in outcomes)
    assert span >= (PROCESSES * REQUESTS - 4) / 4  # one budget: 4 a second for all of them together


def test_process_limiters_alone_are_throttled(limited_sandbox, tmp_path, monkeypatch):
    """The control: the same load, each process pacing itself only, gets 429 ``throttled`` answers."""
    connect(limited_sandbox, "process", tmp_path, monkeypatch)
    outcomes = run_workers()
    assert sandbox_stats(limited_sandbox)["throttled"] > 0
    assert any("throttled" in status for status, _, _ in outcomes)
