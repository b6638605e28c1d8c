"""
The fault matrix (issue 9): full DAG runs with ``dag.test()`` against the sandbox, one per fault.

The DAG is ``tests/dags/cc_fault_matrix.py``: create a list, import 300 contacts (18 rejected locally,
282 sent in 3 requests; ``retries=1, retry_delay=0``), wait for the activities, verify the list by email.
Every scenario ends in one of two ways, and both are asserted:

- **success with exact accounting**: ``rows_read == rows_imported + rows_rejected + rows_rejected_by_api``
  in the import summary, the rejects file holds every rejected row, the list holds exactly the imported
  contacts (``verify`` compares every address), and the sandbox processed one import POST per request
  the summary reports, plus one per post whose answer was lost and that was posted again (a harmless
  duplicate: imports upsert by email), task retries included;
- **a clear, typed failure**: the task's exception (type and message, recorded by the DAG's failure and
  retry callbacks) is a provider error that says what happened, and the task's submission record holds
  every request that was posted (so a re-run resumes: nothing is lost, nothing is posted twice).

Faults are armed up front with the sandbox's admin API, or at an exact point of the run by a response
observer: it runs in the sandbox's thread before the client receives the answer it watches, so "after
the first import POST" is deterministic.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cc_provider.credential_stores import FileTokenStore
from cc_provider.credential_stores.variable import VARIABLE_PREFIX
from cc_provider.hooks._retry import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.submissions import SubmissionLedger
from cc_sandbox.config import SandboxConfig
from cc_sandbox.errors import default_body
from cc_sandbox.middleware import ObservedResponse, add_response_observer, remove_response_observer
from cc_sandbox.models import Fault, new_id
from cc_sandbox.progress import advance_activities
from cc_sandbox.server import SandboxServer, airflow_connection, airflow_connection_json
from cc_sandbox.testing import (
    CONNECTION_ENV,
    FAST_CONFIG,
    add_activity_fault,
    add_fault,
    admin_call,
    advance_clock,
    patch_config,
    register_client,
    sandbox_stats,
)
from tests.conftest import REPO
from tests.integration.helpers import xcom_value

pytestmark = pytest.mark.faults

DAG_FILE = REPO / "tests" / "dags" / "cc_fault_matrix.py"
IMPORT_PATH = "/v3/activities/contacts_json_import"
ACTIVITIES_PATH = "/v3/activities"  # three pending activities are read through the list endpoint
LISTS_PATH = "/v3/contact_lists"
TOKEN_PATH = "/oauth2/default/v1/token"
USERS, REJECTED_LOCALLY, REQUESTS, CONTACTS_PER_REQUEST = 300, 18, 3, 100
ATTEMPTS_PER_CALL = ConstantContactHook.default_max_retries + 1
DAY = 86400


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


# -- running the DAG ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One DAG run: its state per task (state, try number) and the exceptions its tries raised."""

    run: Any
    tasks: dict[str, tuple[str, int]]
    failures: list[dict[str, Any]]
    output: str

    @property
    def summary(self) -> dict[str, Any]:
        return xcom_value(self.run, "import_contacts")

    def submission_record(self) -> dict[str, Any] | None:
        """The import task's record of what it posted (kept in an Airflow Variable when the task fails)."""
        from airflow.models.variable import Variable
        from airflow.utils.session import create_session

        ti = SimpleNamespace(dag_id=self.run.dag_id, task_id="import_contacts", run_id=self.run.run_id, map_index=-1)
        key = SubmissionLedger.for_task({"ti": ti}, None).key
        with create_session() as session:
            variable = session.query(Variable).filter_by(key=key).one_or_none()
            return json.loads(variable.val) if variable is not None else None


class Matrix:
    """Runs ``cc_fault_matrix`` against one sandbox with the knobs of a scenario."""

    def __init__(self, server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
        self.server, self.tmp_path, self.monkeypatch, self.capsys = server, tmp_path, monkeypatch, capsys
        self.failure_log = tmp_path / "failures.jsonl"
        self.rejects = tmp_path / "rejects.csv"
        monkeypatch.setenv("CC_FAULT_FAILURE_LOG", str(self.failure_log))
        # the hook's retries back off for 10 ms, not 1 s (a class attribute read by every hook)
        monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
        reset_process_state()  # no access token held over from another scenario: each run starts with a refresh
        forget_shared_tokens()

    def run(
        self,
        list_name: str,
        *,
        wait: str = "deferred",
        wait_timeout: float = 60,
        unknown_grace: float = 300,
        again: Outcome | None = None,
    ) -> Outcome:
        """Run the DAG (``again``: the same run once more, as a cleared run would be)."""
        from airflow.dag_processing.dagbag import DagBag

        self.monkeypatch.setenv("CC_FAULT_WAIT", wait)
        self.monkeypatch.setenv("CC_FAULT_WAIT_TIMEOUT", str(wait_timeout))
        self.monkeypatch.setenv("CC_FAULT_UNKNOWN_GRACE", str(unknown_grace))
        self.failure_log.unlink(missing_ok=True)
        dag = DagBag(dag_folder=str(DAG_FILE)).get_dag("cc_fault_matrix")
        conf = {"list_name": list_name, "rejects_path": str(self.rejects)}
        same_run = {} if again is None else {"logical_date": again.run.logical_date, "run_after": again.run.run_after}
        run = dag.test(run_conf=conf, **same_run)
        tasks = {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances()}
        logged = self.failure_log.read_text().splitlines() if self.failure_log.exists() else []
        failures = [json.loads(line) for line in logged]
        return Outcome(run, tasks, failures, self.capsys.readouterr().out)

    # -- what every scenario asserts ----------------------------------------------------------------

    def assert_accounted(
        self, outcome: Outcome, *, import_tries: int = 1, resumed: int = 0, duplicates: int = 0
    ) -> dict[str, Any]:
        """Success, every row accounted for, the list holding exactly the imported contacts.

        ``duplicates``: posts the sandbox processed although their answer was lost (so they were posted again).
        """
        assert outcome.run.state == "success", (outcome.tasks, outcome.failures)
        # a retry that was not expected shows the exception of the try that failed
        assert outcome.tasks["import_contacts"] == ("success", import_tries), outcome.failures
        summary = outcome.summary
        read, imported = summary["rows_read"], summary["rows_imported"]
        assert read == USERS
        assert read == imported + summary["rows_rejected"] + summary["rows_rejected_by_api"]
        assert summary["rows_rejected"] == REJECTED_LOCALLY
        assert summary["rows_sent"] == summary["rows_imported"] + summary["rows_rejected_by_api"]
        assert (summary["requests"], summary["requests_resumed"]) == (REQUESTS, resumed)
        with self.rejects.open(newline="", encoding="utf-8") as handle:
            assert sum(1 for _ in csv.DictReader(handle)) == summary["rows_rejected"] + summary["rows_rejected_by_api"]
        stats = sandbox_stats(self.server)
        assert stats["import_posts"] == summary["requests"] + duplicates  # answered posts are never repeated
        assert summary["requests_reposted"] >= duplicates
        assert stats["truncations"] == 0
        members = ConstantContactHook().count_list_members(summary["list_ids"][0])
        assert members == summary["rows_imported"] - summary["rows_not_added_unsubscribed"] == USERS - REJECTED_LOCALLY
        verified = xcom_value(outcome.run, "verify")
        assert (verified["members"], verified["missing_count"], verified["unexpected_count"]) == (members, 0, 0)
        assert outcome.submission_record() is None  # cleared on success
        return summary

    def assert_failed(
        self, outcome: Outcome, error: str, *messages: str, task: str = "import_contacts", tries: int = 2
    ) -> list[dict[str, Any]]:
        """A typed failure of ``task`` on each of its ``tries``, whose message says what happened."""
        assert outcome.run.state == "failed"
        assert outcome.tasks[task] == ("failed", tries)
        assert outcome.tasks["verify"][0] == "upstream_failed"
        recorded = [f for f in outcome.failures if f["task_id"] == task]
        assert len(recorded) == tries, recorded
        for failure in recorded:
            assert failure["type"] == error, failure
            assert "ConstantContactError" in failure["classes"] or error == "AirflowSensorTimeout", failure
            for message in messages:
                assert message in failure["message"], failure
        return recorded

    def assert_posted_once(self, outcome: Outcome, posted: int) -> None:
        """After a failed import: each request posted once, and the task's record holds every one of them."""
        stats = sandbox_stats(self.server)
        assert stats["import_posts"] == stats["activities_created"] == posted
        record = outcome.submission_record()  # what a re-run of this task resumes from
        assert record is not None and len(record["activity_ids"]) == posted
        assert record["rows_sent"] == min(posted * CONTACTS_PER_REQUEST, USERS - REJECTED_LOCALLY)
        known = {a for a, act in self.server.state.activities.items() if act.kind == "contacts_json_import"}
        assert known <= set(record["activity_ids"])  # (an activity past the retention is forgotten)


@pytest.fixture
def matrix(airflow_db, cc_sandbox, cc_connection, tmp_path, monkeypatch, capsys) -> Matrix:
    return Matrix(cc_sandbox, tmp_path, monkeypatch, capsys)


def forget_shared_tokens() -> None:
    """Delete the tokens the default connection's Variable store shares between processes (and runs)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Variable).filter(Variable.key.startswith(VARIABLE_PREFIX)).delete(synchronize_session=False)


@contextmanager
def after_response(method: str, path: str, action: Callable[[], None], nth: int = 1) -> Iterator[None]:
    """Run ``action`` in the sandbox once its ``nth`` successful answer to ``method path`` is ready to go out."""
    seen = 0

    def observe(response: ObservedResponse) -> None:
        nonlocal seen
        if response.method == method and response.path == path and 200 <= response.status < 300:
            seen += 1
            if seen == nth:
                action()

    add_response_observer(observe)
    try:
        yield
    finally:
        remove_response_observer(observe)


def arm(server: SandboxServer, path: str, status: int, count: int, method: str | None = None) -> Callable[[], None]:
    """An action arming a fault directly in the sandbox's state (its admin API would wait for its own thread)."""

    def action() -> None:
        server.state.add_fault(Fault(new_id(), path, method, status, default_body(status), {}, remaining=count))

    return action


def throttled(server: SandboxServer, path: str, count: int, method: str | None = None) -> None:
    body = {"error_key": "throttled", "error_message": "Too many requests: limit 4 a second."}
    add_fault(server, path, 429, count=count, method=method, body=body)


# -- transient faults: the hook retries, or the task retries and resumes ----------------------------------


def test_throttled_429_burst_is_retried(matrix, cc_sandbox):
    throttled(cc_sandbox, LISTS_PATH, 2, "POST")
    throttled(cc_sandbox, IMPORT_PATH, ATTEMPTS_PER_CALL - 1, "POST")
    throttled(cc_sandbox, ACTIVITIES_PATH, ATTEMPTS_PER_CALL + 2, "GET")  # past the retries: waited out
    outcome = matrix.run("Throttled")
    matrix.assert_accounted(outcome)
    stats = sandbox_stats(cc_sandbox)
    assert stats["faults_served"] == 2 + ATTEMPTS_PER_CALL - 1 + ATTEMPTS_PER_CALL + 2
    assert "trying again next poll" in outcome.output


def test_quota_exceeded_fails_typed_and_a_rerun_resumes_after_the_reset(matrix, cc_sandbox):
    # 4 requests a day: find and create the list, count its members (the baseline of the membership
    # check), post the first of three imports; the second gets 429
    patch_config(cc_sandbox, daily_quota=4)
    failed = matrix.run("Quota")
    matrix.assert_failed(failed, "ConstantContactQuotaExceededError", "429 (quota_exceeded)", "resets at 00:00 UTC")
    matrix.assert_posted_once(failed, posted=1)
    stats = sandbox_stats(cc_sandbox)
    assert stats["quota_exceeded"] == 2  # once per try: quota_exceeded is never retried by the hook
    assert stats["requests"][f"POST {IMPORT_PATH}"] == 3

    # The next UTC day: the quota resets, and the same run, cleared, resumes where it stopped.
    now = datetime.fromisoformat(admin_call(cc_sandbox, "GET", "clock")["now"].replace("Z", "+00:00")).timestamp()
    advance_clock(cc_sandbox, DAY - now % DAY + 1)
    patch_config(cc_sandbox, daily_quota=100)  # a small day's budget, enough for the rest of the run
    rerun = matrix.run("Quota", again=failed)
    assert rerun.run.run_id == failed.run.run_id
    matrix.assert_accounted(rerun, resumed=1)
    assert "Resuming: an earlier try already posted 1 request(s) (100 contacts)" in rerun.output


def test_500_burst_is_retried_and_waited_out(matrix, cc_sandbox):
    add_fault(cc_sandbox, LISTS_PATH, 500, count=2, method="GET")
    add_fault(cc_sandbox, IMPORT_PATH, 500, count=ATTEMPTS_PER_CALL - 1, method="POST")
    add_fault(cc_sandbox, ACTIVITIES_PATH, 500, count=2 * ATTEMPTS_PER_CALL, method="GET")
    outcome = matrix.run("Server errors")
    matrix.assert_accounted(outcome)
    assert outcome.output.count("Polling activities failed") >= 2


def test_503_past_the_hook_retries_fails_the_try_and_the_retry_resumes(matrix, cc_sandbox):
    # After the first import request is posted, the next one meets 503 on every attempt: the try fails
    # and Airflow's retry resumes with the two requests left, without posting the first again.
    add_fault(cc_sandbox, ACTIVITIES_PATH, 503, count=ATTEMPTS_PER_CALL + 2, method="GET")  # waited out
    with after_response("POST", IMPORT_PATH, arm(cc_sandbox, IMPORT_PATH, 503, ATTEMPTS_PER_CALL, "POST")):
        outcome = matrix.run("Unavailable", wait="worker")
    (first_try,) = [f for f in outcome.failures if f["task_id"] == "import_contacts"]
    assert first_try["type"] == "ConstantContactApiError"
    assert f"503 (server_error) for POST {IMPORT_PATH}" in first_try["message"]
    assert f"Gave up after {ATTEMPTS_PER_CALL} attempts" in first_try["message"]
    matrix.assert_accounted(outcome, import_tries=2, resumed=1)
    assert "Resuming: an earlier try already posted 1 request(s) (100 contacts)" in outcome.output
    assert sandbox_stats(cc_sandbox)["requests"][f"POST {IMPORT_PATH}"] == 1 + ATTEMPTS_PER_CALL + 2
    assert "Polling activities failed" in outcome.output  # the worker waited the poll's 503s out


def test_connection_resets_are_retried(matrix, cc_sandbox):
    add_fault(cc_sandbox, TOKEN_PATH, 200, count=1, drop_connection=True)
    add_fault(cc_sandbox, LISTS_PATH, 200, count=1, method="POST", drop_connection=True)
    add_fault(cc_sandbox, IMPORT_PATH, 200, count=2, method="POST", drop_connection=True)
    add_fault(cc_sandbox, ACTIVITIES_PATH, 200, count=ATTEMPTS_PER_CALL + 1, method="GET", drop_connection=True)
    outcome = matrix.run("Resets")
    # A reset after an import POST leaves its fate unknown: the operator posts it again (never guessing
    # which activity is its own); these resets come before the sandbox processes the post, so each
    # request ends imported once, and the polls' resets are waited out.
    assert [f for f in outcome.failures if f["task_id"] == "import_contacts"] == []
    summary = matrix.assert_accounted(outcome)
    assert summary["requests_reposted"] == 2
    assert sandbox_stats(cc_sandbox)["faults_served"] == 1 + 1 + 2 + ATTEMPTS_PER_CALL + 1
    assert admin_call(cc_sandbox, "GET", "faults")["faults"] == []


@pytest.mark.parametrize("wait", ["deferred", "worker"])
def test_responses_slower_than_the_client_timeout_are_retried(matrix, cc_sandbox, monkeypatch, wait):
    # Neither the connection nor the operators set the HTTP timeout: the hook's keyword default (60 s)
    # is lowered for the whole run, task and trigger alike.
    monkeypatch.setitem(ConstantContactHook.__init__.__kwdefaults__, "timeout", 1.0)
    for path, count, method in ((TOKEN_PATH, 1, None), (IMPORT_PATH, 2, "POST"), (ACTIVITIES_PATH, 2, "GET")):
        add_fault(cc_sandbox, path, 503, count=count, method=method, delay=2.5)
    started = time.monotonic()
    outcome = matrix.run(f"Slow {wait}", wait=wait)
    matrix.assert_accounted(outcome)
    assert sandbox_stats(cc_sandbox)["faults_served"] == 5
    assert time.monotonic() - started < 30


def test_a_processed_import_post_answered_late_is_posted_again_harmlessly(matrix, cc_sandbox, monkeypatch):
    # The sandbox's `delay` fault answers with the fault, never processing the request. Here the first
    # import is processed and its answer then held back for 2 s (the observer blocks the sandbox's
    # thread), past the client's 1 s timeout: what a slow API or a lost answer looks like.
    monkeypatch.setitem(ConstantContactHook.__init__.__kwdefaults__, "timeout", 1.0)
    with after_response("POST", IMPORT_PATH, lambda: time.sleep(2.0)):
        outcome = matrix.run("Late answer")
    assert outcome.run.state == "success"
    assert ConstantContactHook().count_list_members(outcome.summary["list_ids"][0]) == USERS - REJECTED_LOCALLY
    # The late-answered request reached the API, but nothing proves which activity is its own: it is
    # posted again, and only the activity whose id came back is followed (the duplicate changes nothing).
    assert sandbox_stats(cc_sandbox)["import_posts"] == REQUESTS + 1
    assert "may have accepted it; it is not replayed" in outcome.output
    assert "Posting request 1 again (1 of 3)" in outcome.output
    assert "GET /v3/activities?" not in outcome.output  # no look-up among the newest activities
    matrix.assert_accounted(outcome, duplicates=1)


# -- authorization ------------------------------------------------------------------------------------


def test_access_tokens_revoked_mid_run_are_refreshed(matrix, cc_sandbox):
    with (
        after_response("POST", IMPORT_PATH, cc_sandbox.state.expire_tokens),  # between two import posts
        after_response("GET", ACTIVITIES_PATH, cc_sandbox.state.expire_tokens),  # while the trigger polls
    ):
        outcome = matrix.run("Expired tokens")
    matrix.assert_accounted(outcome)
    stats = sandbox_stats(cc_sandbox)
    assert stats["unauthorized"] == 2  # one 401 each time, then a refresh and a replay
    assert stats["refreshes"] == 3


def _revoke_everything(server: SandboxServer) -> Callable[[], None]:
    def action() -> None:
        server.state.expire_tokens()
        with server.state.lock:
            server.state.revoke_refresh_tokens(client_id=server.config.client_id)

    return action


def test_refresh_token_revoked_mid_import_fails_with_an_auth_error(matrix, cc_sandbox):
    with after_response("POST", IMPORT_PATH, _revoke_everything(cc_sandbox)):
        outcome = matrix.run("Revoked")
    matrix.assert_failed(
        outcome, "ConstantContactAuthError", "refused the refresh token", "invalid_grant", "python -m cc_provider.auth"
    )
    matrix.assert_posted_once(outcome, posted=1)


def test_refresh_token_revoked_while_waiting_fails_with_an_auth_error(matrix, cc_sandbox):
    patch_config(cc_sandbox, activity_start_delay=1.0)  # still pending when the first poll answers
    with after_response("GET", ACTIVITIES_PATH, _revoke_everything(cc_sandbox)):
        outcome = matrix.run("Revoked while waiting")
    matrix.assert_failed(outcome, "ConstantContactAuthError", "refused the refresh token", "invalid_grant")
    matrix.assert_posted_once(outcome, posted=REQUESTS)


def _competitor(stop, results) -> None:
    """Another worker on the same rotating connection and token store: API calls until told to stop."""
    calls = 0
    try:
        hook = ConstantContactHook(max_retries=2, backoff_base=0.05)
        while not stop.is_set():
            hook.call_json("GET", "/contact_lists", params={"limit": 1})
            calls += 1
            time.sleep(0.05)
        results.put(("ok", calls))
    except BaseException as err:  # the parent asserts that no competitor failed
        results.put(("error", f"{type(err).__name__}: {err}"))


def test_rotating_token_race_during_a_run(matrix, cc_sandbox, tmp_path, monkeypatch):
    # DAG level of tests/integration/test_token_race.py. A rotating client whose access tokens live 3 s
    # (refreshed half-way): while the DAG runs (4 s or more), three other processes use the same
    # connection and file store, so refreshes race all run long. Each refresh revokes every older refresh
    # token; a rotation lost by anyone would end in invalid_grant.
    client_id, secret, seed = "cc-fault-rotating", "cc-fault-rotating-secret", "cc-fault-rotating-seed"
    register_client(cc_sandbox, client_id, client_secret=secret, refresh_token_mode="rotating", refresh_token=seed)
    store_path = tmp_path / "tokens" / "cc.json"
    conn = airflow_connection(cc_sandbox)
    conn.update(login=client_id, password=secret)
    conn["extra"].update(refresh_token=seed, token_type="rotating", token_store=f"file:{store_path}")
    monkeypatch.setenv(CONNECTION_ENV, json.dumps(conn))
    patch_config(cc_sandbox, access_token_ttl=3, activity_start_delay=4.0)  # a run of 4 s or more

    ctx = multiprocessing.get_context("fork")
    stop, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_competitor, args=(stop, results)) for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a process with threads (3.12+)
        for worker in workers:
            worker.start()
    try:
        outcome = matrix.run("Rotating race")
    finally:
        stop.set()
        competitors = [results.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(10)
    matrix.assert_accounted(outcome)
    assert [status for status, _ in competitors] == ["ok"] * len(workers), competitors
    assert all(calls > 0 for _, calls in competitors)
    stats = sandbox_stats(cc_sandbox)
    assert stats["refreshes"] >= 3, stats  # the refresh token rotated several times during the run
    assert stats["requests"][f"POST {TOKEN_PATH}"] == stats["refreshes"]  # and no refresh was ever refused
    record = FileTokenStore(store_path).load()
    assert record is not None
    assert cc_sandbox.state.refresh_token_owner(record.refresh_token) == client_id  # the live one was kept


# -- activities that do not complete ------------------------------------------------------------------


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
def test_an_activity_that_ends_badly_fails_the_import(matrix, cc_sandbox, state):
    add_activity_fault(cc_sandbox, state, kind="contacts_json_import", count=1, errors=["Line 2: simulated fault"])
    outcome = matrix.run(f"Activity {state}")
    failures = matrix.assert_failed(outcome, "ActivityFailedError", f"ended {state}: Line 2: simulated fault")
    matrix.assert_posted_once(outcome, posted=REQUESTS)  # the retry waited for the same activities
    assert "Resuming: an earlier try already posted 3 request(s) (282 contacts)" in outcome.output
    assert failures[0]["message"] == failures[1]["message"]


def test_an_activity_stuck_in_processing_times_the_import_out(matrix, cc_sandbox):
    add_activity_fault(cc_sandbox, "processing", kind="contacts_json_import", count=1)
    outcome = matrix.run("Stuck", wait_timeout=1.5)
    recorded = matrix.assert_failed(outcome, "AirflowSensorTimeout", "Timed out waiting for activities", tries=1)
    stuck = [a for a, act in cc_sandbox.state.activities.items() if act.state == "processing"]
    assert len(stuck) == 1 and stuck[0] in recorded[0]["message"]  # names the activity it waited for
    matrix.assert_posted_once(outcome, posted=REQUESTS)


def test_an_activity_stuck_in_processing_times_the_sensor_out(matrix, cc_sandbox):
    add_activity_fault(cc_sandbox, "processing", kind="contacts_json_import", count=1)
    outcome = matrix.run("Stuck for the sensor", wait="sensor", wait_timeout=1.5)
    assert outcome.tasks["import_contacts"] == ("success", 1)
    matrix.assert_failed(outcome, "AirflowSensorTimeout", "timed out", task="wait_for_import", tries=1)
    assert sandbox_stats(cc_sandbox)["import_posts"] == REQUESTS
    assert "is processing (50% done" in outcome.output  # each poke logged the stuck activity's progress


def test_an_unknown_activity_state_fails_after_the_grace_period(matrix, cc_sandbox):
    add_activity_fault(cc_sandbox, "on_hold", kind="contacts_json_import", count=1)
    outcome = matrix.run("Unknown state", unknown_grace=1.0)
    matrix.assert_failed(outcome, "ActivityFailedError", "reports an unknown state 'on_hold' (for ")
    matrix.assert_posted_once(outcome, posted=REQUESTS)


@pytest.mark.parametrize("wait", ["deferred", "worker"])
def test_an_expired_activity_404_fails_with_the_retention_rule(matrix, cc_sandbox, wait):
    # The activities wait a minute before starting; once the third is posted the sandbox's clock jumps
    # past the 10-day retention, so every status read answers 404.
    patch_config(cc_sandbox, activity_start_delay=60)

    def eleven_days_later() -> None:
        with cc_sandbox.state.lock:
            cc_sandbox.state.clock_offset += 11 * DAY
        advance_activities(cc_sandbox.state)

    with after_response("POST", IMPORT_PATH, eleven_days_later, nth=REQUESTS):
        outcome = matrix.run(f"Expired {wait}", wait=wait)
    matrix.assert_failed(outcome, "ActivityNotFoundError", "was not found", "keeps an activity's status for 10 days")
    matrix.assert_posted_once(outcome, posted=REQUESTS)


# -- the sandbox restarts while the import waits --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sandbox_restarted_mid_wait_with_its_state_file(matrix, tmp_path, monkeypatch):
    # A sandbox of this test's own, on a fixed port, keeping its state in a SQLite file (--state). Once
    # the three imports are posted it is stopped while the trigger polls, left down for a second, and a
    # new server is started on the same port from the file: the run must complete with every row.
    port, state_file = _free_port(), tmp_path / "sandbox.sqlite"
    config = SandboxConfig(**{**FAST_CONFIG, "activity_start_delay": 2.0})
    servers = [SandboxServer(config, port=port, state_file=state_file).start()]
    monkeypatch.setenv(CONNECTION_ENV, airflow_connection_json(servers[0]))
    matrix.server = servers[0]
    posted, restarted = threading.Event(), threading.Event()
    polls_before_restart: list[int] = []

    def restart() -> None:
        if not posted.wait(60):
            return
        time.sleep(0.4)  # the trigger is polling the pending activities
        polls_before_restart.append(sandbox_stats(servers[0])["requests"].get(f"GET {ACTIVITIES_PATH}", 0))
        servers[0].stop()
        time.sleep(1.0)  # polls meet a closed port
        servers.append(SandboxServer(config, port=port, state_file=state_file).start())
        restarted.set()

    thread = threading.Thread(target=restart, name="restart-sandbox", daemon=True)
    thread.start()
    try:
        with after_response("POST", IMPORT_PATH, posted.set, nth=REQUESTS):
            outcome = matrix.run("Restarted")
        thread.join(30)
        assert restarted.is_set()
        matrix.server = servers[-1]
        assert servers[-1].state.activities  # the activities came back from the file
        matrix.assert_accounted(outcome)
        assert "Polling activities failed" in outcome.output  # the trigger met the closed port
        assert sandbox_stats(servers[-1])["requests"][f"GET {ACTIVITIES_PATH}"] > polls_before_restart[0]
    finally:
        posted.set()
        thread.join(30)
        for server in servers:
            server.stop()
