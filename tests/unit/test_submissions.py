"""
Unit tests for cc_provider.operators.submissions: the resume fingerprint, the ledger, posting once and
submitting every request of an import (submit_all). The ledger's clock is injected (a FakeClock).

A real Airflow Variable needs a running task (tests/integration/test_import_resume.py covers that), so
the in-task behaviour runs against an in-memory stand-in for ``airflow.sdk.Variable`` with the same
signatures; the outside-a-task behaviour uses the real one.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow.sdk
import pytest

from cc_provider.activity import RETENTION_SECONDS
from cc_provider.exceptions import ConstantContactApiError, ConstantContactOutcomeUnknownError
from cc_provider.operators.submissions import (
    KEY_PREFIX,
    MAX_UNANSWERED_POSTS,
    RESUME_WINDOW_SECONDS,
    SubmissionLedger,
    SubmissionRecord,
    fingerprint,
    post_once,
    submit_all,
)

NOW = 1_900_000_000.0
NOTSET = object()
RESUME_FAILED = "Not running inside an Airflow task: a retry could not resume this import."


class FakeVariable:
    """In-memory stand-in for ``airflow.sdk.Variable`` (get / set / delete with the same signatures)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    def get(self, key: str, default: Any = NOTSET, deserialize_json: bool = False) -> Any:
        self.calls.append(("get", key))
        if key not in self.values:
            if default is NOTSET:
                raise KeyError(key)
            return default
        value = self.values[key]
        return json.loads(value) if deserialize_json else value

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.calls.append(("set", key))
        self.values[key] = json.dumps(value, indent=2) if serialize_json else str(value)

    def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        self.values.pop(key, None)


class NoTaskVariable:
    """What every Variable call does outside a task that has a supervisor: raise ImportError."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _fail(self, name: str) -> None:
        self.calls.append(name)
        raise ImportError("cannot import name 'SUPERVISOR_COMMS'")

    def get(self, key: str, default: Any = NOTSET, deserialize_json: bool = False) -> Any:
        self._fail("get")

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self._fail("set")

    def delete(self, key: str) -> None:
        self._fail("delete")


class Log(logging.Handler):
    """A private logger whose records are kept, independent of Airflow's logging configuration."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(f"test.submissions.{uuid.uuid4().hex}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]

    @property
    def warnings(self) -> list[str]:
        return self.messages(logging.WARNING)

    @property
    def infos(self) -> list[str]:
        return self.messages(logging.INFO)


@pytest.fixture
def log():
    handler = Log()
    yield handler
    handler.logger.removeHandler(handler)


@pytest.fixture
def variables(monkeypatch) -> FakeVariable:
    fake = FakeVariable()
    monkeypatch.setattr(airflow.sdk, "Variable", fake)
    return fake


class FakeClock:
    """A wall clock to inject (``clock=``) that shows ``now`` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def ledger(
    log: Log, key: str = "constant_contact_submitted__dag__task__run__-1", clock: Callable[[], float] = time.time
) -> SubmissionLedger:
    return SubmissionLedger(key, log.logger, clock)


def stored(variables: FakeVariable, key: str, **record: Any) -> None:
    variables.values[key] = json.dumps(record)


def test_the_stand_in_has_the_real_signatures():
    from airflow.sdk.definitions.variable import Variable

    fake = FakeVariable()
    for name in ("get", "set", "delete"):
        real = list(inspect.signature(getattr(Variable, name)).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == real


class TestFingerprint:
    PARTS = (
        {"path": "/data/contacts.json", "size": 1234, "mtime_ns": 1_700_000_000_000_000_000},
        ["list-1", "list-2"],
        {"Email": "email", "First": "first_name"},
        {"max_contacts": 500, "max_bytes": 4_000_000},
    )

    def test_shape(self):
        value = fingerprint(*self.PARTS)
        assert re.fullmatch(r"[0-9a-f]{32}", value)

    def test_stable(self):
        assert fingerprint(*self.PARTS) == fingerprint(*json.loads(json.dumps(self.PARTS)))
        # pinned: a provider upgrade between two tries must not make a retry import afresh
        assert fingerprint("a", 1, None) == "30780d0daa72bce56290bae99d93fa5e"

    def test_dict_key_order_does_not_matter(self):
        reordered = (
            {"mtime_ns": 1_700_000_000_000_000_000, "size": 1234, "path": "/data/contacts.json"},
            ["list-1", "list-2"],
            {"First": "first_name", "Email": "email"},
            {"max_bytes": 4_000_000, "max_contacts": 500},
        )
        assert fingerprint(*reordered) == fingerprint(*self.PARTS)

    def test_lists_and_tuples_alike(self):
        assert fingerprint(["a", "b"]) == fingerprint(("a", "b"))

    def test_non_json_values_use_their_text(self):
        assert fingerprint(Path("/data/x.csv")) == fingerprint("/data/x.csv")
        when = datetime(2030, 1, 1, tzinfo=timezone.utc)
        assert fingerprint(when) == fingerprint(when) == fingerprint(str(when))

    @pytest.mark.parametrize(
        "changed",
        [
            ({"path": "/data/other.json", "size": 1234, "mtime_ns": 1_700_000_000_000_000_000},),
            ({"path": "/data/contacts.json", "size": 1235, "mtime_ns": 1_700_000_000_000_000_000},),
            ({"path": "/data/contacts.json", "size": 1234, "mtime_ns": 1_700_000_000_000_000_001},),
            (None, ["list-2", "list-1"]),
            (None, ["list-1"]),
            (None, None, None),
            (None, None, {}),
            (None, None, {"Email": "email", "First": "last_name"}),
            (None, None, None, {"max_contacts": 499, "max_bytes": 4_000_000}),
            (None, None, None, {}),
        ],
        ids=[
            "path",
            "size",
            "mtime",
            "list-order",
            "fewer-lists",
            "no-column-map",
            "empty-column-map",
            "column-target",
            "split-size",
            "no-split-options",
        ],
    )
    def test_any_change_changes_it(self, changed):
        parts = list(self.PARTS)
        for index, value in enumerate(changed):
            if value is not None or index == len(changed) - 1:
                parts[index] = value
        assert fingerprint(*parts) != fingerprint(*self.PARTS)

    @pytest.mark.parametrize(
        ("left", "right"),
        [(("a", "b"), ("ab",)), (("a", "b"), ("b", "a")), ((1,), ("1",)), ((None,), ("None",)), ((), (None,))],
    )
    def test_parts_are_kept_apart(self, left, right):
        assert fingerprint(*left) != fingerprint(*right)


class TestSubmissionRecord:
    def test_defaults(self):
        record = SubmissionRecord("fp")
        assert (record.activity_ids, record.rows_sent, record.requests_sent) == ([], 0, 0)
        assert abs(record.started_at - time.time()) < 60

    def test_requests_sent_counts_activities(self):
        assert SubmissionRecord("fp", ["a1", "a2", "a3"], 30, NOW).requests_sent == 3


class TestKey:
    def ti(self, **kw) -> dict:
        fields = {"dag_id": "dag", "task_id": "task", "run_id": "run", "map_index": -1, **kw}
        return {"ti": SimpleNamespace(**fields)}

    def test_named_after_the_task_instance(self, log):
        context = self.ti(dag_id="my dag", task_id="group.import", run_id="manual__2030-01-01T00:00:00+00:00")
        key = SubmissionLedger.for_task(context, log.logger).key
        assert key == f"{KEY_PREFIX}__my_dag__group.import__manual__2030-01-01T00_00_00_00_00__-1"
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", key)

    def test_every_part_tells_task_instances_apart(self, log):
        keys = {
            SubmissionLedger.for_task(self.ti(**kw), log.logger).key
            for kw in ({}, {"dag_id": "d2"}, {"task_id": "t2"}, {"run_id": "r2"}, {"map_index": 0}, {"map_index": 1})
        }
        assert len(keys) == 6

    def test_uses_the_given_logger(self, log):
        assert SubmissionLedger.for_task(self.ti(), log.logger).log is log.logger

    def test_uses_the_given_clock_else_the_wall_clock(self, log, clock):
        assert SubmissionLedger.for_task(self.ti(), log.logger, clock).clock is clock
        assert SubmissionLedger.for_task(self.ti(), log.logger).clock is time.time
        assert SubmissionLedger("k", log.logger).clock is time.time


class TestResume:
    KEY = "constant_contact_submitted__dag__task__run__-1"

    def test_nothing_stored_is_a_fresh_record(self, variables, clock, log):
        record = ledger(log, clock=clock).resume("fp-1")
        assert (record.fingerprint, record.activity_ids, record.rows_sent, record.requests_sent) == ("fp-1", [], 0, 0)
        assert variables.calls == [("get", self.KEY)]
        assert log.warnings == [] and log.infos == []

    def test_empty_stored_value_is_a_fresh_record(self, variables, clock, log):
        variables.values[self.KEY] = "{}"
        assert ledger(log, clock=clock).resume("fp-1").activity_ids == []
        assert log.warnings == []

    def test_same_fingerprint_within_the_window_resumes(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1", "a2"], rows_sent=30, started_at=NOW - 60)
        record = ledger(log, clock=clock).resume("fp-1")
        assert record == SubmissionRecord("fp-1", ["a1", "a2"], 30, NOW - 60)
        assert record.requests_sent == 2
        assert log.infos == [
            "Resuming: an earlier try already posted 2 request(s) (30 contacts): activities ['a1', 'a2']."
        ]
        assert log.warnings == []

    def test_resumes_up_to_the_end_of_the_window(self, variables, clock, log):
        started = NOW - RESUME_WINDOW_SECONDS
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1"], rows_sent=5, started_at=started)
        assert ledger(log, clock=clock).resume("fp-1").activity_ids == ["a1"]
        assert log.warnings == []

    @pytest.mark.parametrize("age", [RESUME_WINDOW_SECONDS + 1, RETENTION_SECONDS, 30 * 24 * 3600])
    def test_too_old_is_a_fresh_record(self, variables, clock, log, age):
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1"], rows_sent=5, started_at=NOW - age)
        record = ledger(log, clock=clock).resume("fp-1")
        assert (record.fingerprint, record.activity_ids, record.rows_sent) == ("fp-1", [], 0)
        assert log.warnings == ["An earlier try's activities are past the 10-day retention; importing afresh."]

    def test_another_fingerprint_is_a_fresh_record(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-old", activity_ids=["a1", "a2"], rows_sent=30, started_at=NOW)
        record = ledger(log, clock=clock).resume("fp-new")
        assert (record.fingerprint, record.activity_ids, record.rows_sent) == ("fp-new", [], 0)
        assert log.warnings == [
            "An earlier try posted activities ['a1', 'a2'] for different input or options; importing afresh."
        ]
        assert log.infos == []

    def test_a_fresh_record_starts_at_the_ledgers_clock(self, variables, clock, log):
        assert ledger(log, clock=clock).resume("fp-1").started_at == NOW
        clock.now = NOW + 5
        assert ledger(log, clock=clock).resume("fp-1").started_at == NOW + 5

    def test_the_window_is_measured_by_the_ledgers_clock_at_each_resume(self, variables, clock, log):
        book = ledger(log, clock=clock)
        book.save(SubmissionRecord("fp-1", ["a1"], 5, NOW))
        clock.now = NOW + RESUME_WINDOW_SECONDS
        assert book.resume("fp-1").activity_ids == ["a1"]
        clock.now += 1
        assert book.resume("fp-1").activity_ids == []
        assert log.warnings == ["An earlier try's activities are past the 10-day retention; importing afresh."]

    def test_a_fresh_record_is_never_the_stored_one(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-old", activity_ids=["a1"], rows_sent=1, started_at=NOW)
        record = ledger(log, clock=clock).resume("fp-new")
        record.activity_ids.append("b1")
        assert json.loads(variables.values[self.KEY])["activity_ids"] == ["a1"]


class TestSaveAndClear:
    KEY = TestResume.KEY

    def test_round_trip(self, variables, log):
        first_try = ledger(log)  # the real clock: the fresh record starts now
        record = first_try.resume("fp-1")
        record.activity_ids.append("a1")
        record.rows_sent += 10
        first_try.save(record)
        record.activity_ids.append("a2")
        record.rows_sent += 7
        first_try.save(record)
        assert json.loads(variables.values[self.KEY]) == {
            "fingerprint": "fp-1",
            "activity_ids": ["a1", "a2"],
            "rows_sent": 17,
            "started_at": record.started_at,
            "pending": None,
            "reposts": 0,
            "members_before": None,
        }

        retry = ledger(log)  # the next try: a new ledger object, the same key
        assert retry.resume("fp-1") == record

        retry.clear()
        assert self.KEY not in variables.values
        assert ledger(log).resume("fp-1").activity_ids == []
        assert [c[0] for c in variables.calls] == ["get", "set", "set", "get", "delete", "get"]

    def test_started_at_survives_the_round_trip(self, variables, clock, log):
        record = SubmissionRecord("fp-1", ["a1"], 3, NOW - 1000.5)
        ledger(log, clock=clock).save(record)
        assert ledger(log, clock=clock).resume("fp-1").started_at == NOW - 1000.5

    def test_clear_without_a_record(self, variables, log):
        ledger(log).clear()
        assert variables.calls == [("delete", self.KEY)]
        assert log.warnings == []

    def test_ledgers_of_other_task_instances_are_independent(self, variables, clock, log):
        one, two = ledger(log, "k1", clock), ledger(log, "k2", clock)
        one.save(SubmissionRecord("fp", ["a1"], 1, NOW))
        assert two.resume("fp").activity_ids == []
        two.clear()
        assert one.resume("fp").activity_ids == ["a1"]


class TestOutsideATask:
    def test_real_variable_degrades_to_a_no_op_with_one_warning(self, log):
        """Outside a task, the real Variable.set raises ImportError (no supervisor to talk to)."""
        book = ledger(log, f"{KEY_PREFIX}__unit_test__{uuid.uuid4().hex}")
        record = book.resume("fp-1")
        assert record.activity_ids == []
        record.activity_ids.append("a1")
        book.save(record)
        book.save(record)
        book.clear()
        assert book.resume("fp-1").activity_ids == []
        assert log.warnings == [RESUME_FAILED]

    def test_every_call_after_the_first_import_error_is_skipped(self, monkeypatch, log):
        fake = NoTaskVariable()
        monkeypatch.setattr(airflow.sdk, "Variable", fake)
        book = ledger(log)
        record = book.resume("fp-1")
        assert (record.fingerprint, record.activity_ids) == ("fp-1", [])
        book.save(record)
        book.clear()
        assert book.resume("fp-2").fingerprint == "fp-2"
        assert fake.calls == ["get"]
        assert log.warnings == [RESUME_FAILED]

    def test_first_failure_on_save(self, monkeypatch, log):
        fake = NoTaskVariable()
        fake.get = lambda key, default=NOTSET, deserialize_json=False: default  # type: ignore[method-assign]
        monkeypatch.setattr(airflow.sdk, "Variable", fake)
        book = ledger(log)
        book.resume("fp-1")
        book.save(SubmissionRecord("fp-1", ["a1"], 1, NOW))
        book.save(SubmissionRecord("fp-1", ["a1", "a2"], 2, NOW))
        book.clear()
        assert fake.calls == ["set"]
        assert log.warnings == [RESUME_FAILED]

    def test_each_ledger_warns_for_itself(self, monkeypatch, log):
        monkeypatch.setattr(airflow.sdk, "Variable", NoTaskVariable())
        ledger(log, "k1").clear()
        ledger(log, "k2").clear()
        assert log.warnings == [RESUME_FAILED, RESUME_FAILED]

    def test_other_errors_are_not_swallowed(self, monkeypatch, log):
        class Refusing(FakeVariable):
            def set(self, key, value, description=None, serialize_json=False):
                raise RuntimeError("API server said no")

        monkeypatch.setattr(airflow.sdk, "Variable", Refusing())
        with pytest.raises(RuntimeError, match="said no"):
            ledger(log).save(SubmissionRecord("fp", ["a1"], 1, NOW))


class Poster:
    """A scripted ``post``: each call takes the next outcome (an activity, or an exception to raise)."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.pending_seen: list[Any] = []

    def __call__(self, record: SubmissionRecord, variables: FakeVariable, key: str) -> Any:
        def post() -> dict[str, Any]:
            self.calls += 1
            # what a crash right now would leave for the retry: the pending mark is saved before the post
            self.pending_seen.append(json.loads(variables.values[key])["pending"])
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        return post


def lost_answer() -> ConstantContactOutcomeUnknownError:
    return ConstantContactOutcomeUnknownError("POST /v3/activities/contacts_json_import got no answer (ReadTimeout).")


class TestPostOnce:
    """Every branch of posting a request whose answer may be lost (the replay-unsafe import POST)."""

    KEY = "constant_contact_submitted__dag__task__run__-1"

    def post_once(
        self, poster: Poster, record: SubmissionRecord, variables, log, clock: FakeClock, **kwargs: Any
    ) -> dict[str, Any]:
        self.sleeps: list[float] = []
        return post_once(
            poster(record, variables, self.KEY),
            ledger=ledger(log, self.KEY, clock),
            record=record,
            index=kwargs.pop("index", 0),
            contacts=100,
            delay=lambda n: n * 0.5,
            log=log.logger,
            sleep=self.sleeps.append,
            **kwargs,
        )

    def test_an_answered_post_is_posted_once(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster({"activity_id": "a1"})
        assert self.post_once(poster, record, variables, log, clock) == {"activity_id": "a1"}
        assert poster.calls == 1 and record.reposts == 0 and self.sleeps == []
        assert poster.pending_seen == [{"index": 0, "posted_at": NOW, "contacts": 100}]

    def test_each_post_is_marked_with_the_ledgers_clock(self, variables, clock, log):
        def sleep(seconds: float) -> None:
            clock.now += seconds

        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), lost_answer(), {"activity_id": "a3"})
        post_once(
            poster(record, variables, self.KEY),
            ledger=ledger(log, self.KEY, clock),
            record=record,
            index=0,
            contacts=100,
            delay=lambda n: n * 10.0,
            log=log.logger,
            sleep=sleep,
        )
        assert [seen["posted_at"] for seen in poster.pending_seen] == [NOW, NOW + 10, NOW + 30]

    def test_a_lost_answer_is_posted_again_never_looked_for(self, variables, clock, log):
        # Nothing in an activity tells whose it is: the only safe answer to a lost one is to post again.
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), {"activity_id": "a2"})
        assert self.post_once(poster, record, variables, log, clock)["activity_id"] == "a2"
        assert poster.calls == 2 and record.reposts == 1 and self.sleeps == [0.5]
        assert "Posting request 1 again (1 of 3)" in log.warnings[0]

    def test_every_post_may_lose_its_answer_until_the_try_gives_up(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), lost_answer(), lost_answer())
        with pytest.raises(ConstantContactOutcomeUnknownError):
            self.post_once(poster, record, variables, log, clock, max_unanswered=2)
        assert poster.calls == 3 and self.sleeps == [0.5, 1.0]
        # the pending mark stays saved: the task's retry knows the request may be in, and posts it again
        assert json.loads(variables.values[self.KEY])["pending"]["index"] == 0

    def test_a_refused_post_clears_the_pending_mark(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(ConstantContactApiError(400, "bad", "validation"))
        with pytest.raises(ConstantContactApiError):
            self.post_once(poster, record, variables, log, clock)
        assert poster.calls == 1 and self.sleeps == []
        assert json.loads(variables.values[self.KEY])["pending"] is None

    def test_a_refusal_after_a_lost_answer_still_raises(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), ConstantContactApiError(400, "bad", "validation"))
        with pytest.raises(ConstantContactApiError):
            self.post_once(poster, record, variables, log, clock)
        assert poster.calls == 2 and record.reposts == 1

    def test_a_retry_posts_the_pending_request_again(self, variables, clock, log):
        # An earlier try lost the answer of request 2 (index 1) and failed; its activity may exist.
        record = SubmissionRecord("fp", ["a1"], 100, pending={"index": 1, "posted_at": NOW - 60, "contacts": 100})
        poster = Poster({"activity_id": "a2"})
        assert self.post_once(poster, record, variables, log, clock, index=1)["activity_id"] == "a2"
        assert poster.calls == 1 and record.reposts == 1
        assert "an earlier try's post lost its answer and may have been imported; posting it again" in log.warnings[0]

    def test_a_pending_mark_of_another_request_is_not_a_repost(self, variables, clock, log):
        record = SubmissionRecord("fp", ["a1"], 100, pending={"index": 0, "posted_at": NOW - 60, "contacts": 100})
        poster = Poster({"activity_id": "a2"})
        self.post_once(poster, record, variables, log, clock, index=1)
        assert record.reposts == 0 and log.warnings == []


@dataclass(frozen=True)
class Staged:
    """A staged import request: what ``submit_all`` reads of one (its contacts and its size)."""

    name: str
    contact_count: int
    size_bytes: int


REQUESTS = [Staged("r1", 10, 1000), Staged("r2", 7, 700), Staged("r3", 3, 300)]


class TestSubmitAll:
    """Posting every request once across tries: resuming, the membership baseline, and a failure midway."""

    KEY = TestPostOnce.KEY

    @pytest.fixture(autouse=True)
    def _calls(self) -> None:
        self.calls: list[str] = []  # "count" and "post r1", ... in the order they happened

    def post(self, *outcomes: Any) -> Callable[[Staged], dict[str, Any]]:
        """A ``post`` that answers each request with the next outcome (an activity id, or an error to raise)."""
        queue = list(outcomes)

        def post(request: Staged) -> dict[str, Any]:
            self.calls.append(f"post {request.name}")
            outcome = queue.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return {"activity_id": outcome}

        return post

    def count_members(self, *results: dict[str, int]) -> Callable[[], dict[str, int]]:
        queue = list(results)

        def count() -> dict[str, int]:
            self.calls.append("count")
            return queue.pop(0)

        return count

    def submit(self, post, log, clock, **kwargs: Any) -> tuple[SubmissionRecord, int]:
        self.sleeps: list[float] = []
        return submit_all(
            REQUESTS,
            post,
            ledger=ledger(log, self.KEY, clock),
            fingerprint="fp",
            delay=lambda n: n * 0.5,
            log=log.logger,
            sleep=self.sleeps.append,
            **kwargs,
        )

    def saved(self, variables: FakeVariable) -> dict[str, Any]:
        return json.loads(variables.values[self.KEY])

    def test_a_fresh_record_posts_every_request_in_order(self, variables, clock, log):
        record, resumed = self.submit(self.post("a1", "a2", "a3"), log, clock)
        assert resumed == 0
        assert self.calls == ["post r1", "post r2", "post r3"]
        assert (record.activity_ids, record.rows_sent, record.pending, record.reposts) == (
            ["a1", "a2", "a3"],
            20,
            None,
            0,
        )
        assert record.started_at == NOW and record.members_before is None
        assert self.saved(variables) == asdict(record)  # the record is saved after every answer
        assert log.infos == [
            "Import request 1 of 3: 10 contacts (1000 bytes) -> activity a1.",
            "Import request 2 of 3: 7 contacts (700 bytes) -> activity a2.",
            "Import request 3 of 3: 3 contacts (300 bytes) -> activity a3.",
        ]
        assert self.sleeps == []

    def test_a_resumed_record_skips_the_answered_requests(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp", activity_ids=["a1"], rows_sent=10, started_at=NOW - 60)
        record, resumed = self.submit(self.post("a2", "a3"), log, clock)
        assert resumed == 1
        assert self.calls == ["post r2", "post r3"]
        assert (record.activity_ids, record.rows_sent, record.started_at) == (["a1", "a2", "a3"], 20, NOW - 60)
        assert self.saved(variables)["activity_ids"] == ["a1", "a2", "a3"]

    def test_a_fully_answered_record_posts_nothing(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp", activity_ids=["a1", "a2", "a3"], rows_sent=20, started_at=NOW)
        record, resumed = self.submit(self.post(), log, clock)
        assert (resumed, self.calls, record.activity_ids) == (3, [], ["a1", "a2", "a3"])

    def test_a_record_for_other_input_posts_everything_again(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-old", activity_ids=["old"], rows_sent=10, started_at=NOW)
        record, resumed = self.submit(self.post("a1", "a2", "a3"), log, clock)
        assert (resumed, record.activity_ids) == (0, ["a1", "a2", "a3"])

    def test_members_are_counted_once_before_the_first_post(self, variables, clock, log):
        record, _ = self.submit(self.post("a1", "a2", "a3"), log, clock, count_members=self.count_members({"l1": 4}))
        assert self.calls == ["count", "post r1", "post r2", "post r3"]
        assert record.members_before == {"l1": 4}
        assert self.saved(variables)["members_before"] == {"l1": 4}  # a retry compares with the same baseline

    def test_a_resumed_baseline_is_not_counted_again(self, variables, clock, log):
        stored(
            variables,
            self.KEY,
            fingerprint="fp",
            activity_ids=["a1"],
            rows_sent=10,
            started_at=NOW,
            members_before={"l1": 4},
        )
        count = self.count_members({"l1": 14})  # what the list holds now, after the first try's import
        record, resumed = self.submit(self.post("a2", "a3"), log, clock, count_members=count)
        assert resumed == 1
        assert self.calls == ["post r2", "post r3"]
        assert record.members_before == {"l1": 4}

    def test_a_resumed_record_without_a_baseline_counts_before_posting(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp", activity_ids=["a1"], rows_sent=10, started_at=NOW)
        record, _ = self.submit(self.post("a2", "a3"), log, clock, count_members=self.count_members({"l1": 9}))
        assert self.calls == ["count", "post r2", "post r3"]
        assert record.members_before == {"l1": 9}

    def test_without_count_members_there_is_no_baseline(self, variables, clock, log):
        record, _ = self.submit(self.post("a1", "a2", "a3"), log, clock, count_members=None)
        assert "count" not in self.calls
        assert record.members_before is None and self.saved(variables)["members_before"] is None

    def test_a_refused_post_leaves_the_earlier_answers_recorded(self, variables, clock, log):
        refusal = ConstantContactApiError(400, "bad", "validation")
        with pytest.raises(ConstantContactApiError):
            self.submit(self.post("a1", refusal), log, clock, count_members=self.count_members({"l1": 0}))
        assert self.calls == ["count", "post r1", "post r2"]
        saved = self.saved(variables)
        assert (saved["activity_ids"], saved["rows_sent"], saved["pending"]) == (["a1"], 10, None)
        assert saved["members_before"] == {"l1": 0}

        # the task's retry posts only what was not answered, against the same baseline
        self.calls.clear()
        record, resumed = self.submit(self.post("a2", "a3"), log, clock, count_members=self.count_members({"l1": 10}))
        assert resumed == 1 and self.calls == ["post r2", "post r3"]
        assert (record.activity_ids, record.members_before) == (["a1", "a2", "a3"], {"l1": 0})

    def test_a_lost_answer_past_the_limit_leaves_its_request_pending(self, variables, clock, log):
        lost = [lost_answer() for _ in range(MAX_UNANSWERED_POSTS + 1)]
        with pytest.raises(ConstantContactOutcomeUnknownError):
            self.submit(self.post("a1", *lost), log, clock)
        saved = self.saved(variables)
        assert saved["activity_ids"] == ["a1"]
        assert saved["pending"] == {"index": 1, "posted_at": NOW, "contacts": 7}
        assert self.sleeps == [0.5 * n for n in range(1, MAX_UNANSWERED_POSTS + 1)]

        # the retry posts request 2 again (it may have been imported: a harmless duplicate) and goes on
        self.calls.clear()
        record, resumed = self.submit(self.post("a2", "a3"), log, clock)
        assert resumed == 1 and self.calls == ["post r2", "post r3"]
        assert record.activity_ids == ["a1", "a2", "a3"] and record.pending is None
        assert record.reposts == MAX_UNANSWERED_POSTS + 1
