"""
Unit tests for cc_provider.operators.submissions: the resume fingerprint, the ledger, and posting once.

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
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow.sdk
import pytest

from cc_provider.activity import RETENTION_SECONDS
from cc_provider.exceptions import ConstantContactApiError, ConstantContactOutcomeUnknownError
from cc_provider.operators import submissions
from cc_provider.operators.submissions import (
    KEY_PREFIX,
    RESUME_WINDOW_SECONDS,
    SubmissionLedger,
    SubmissionRecord,
    fingerprint,
    post_once,
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


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    fake = SimpleNamespace(now=NOW)
    monkeypatch.setattr(submissions, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


def ledger(log: Log, key: str = "constant_contact_submitted__dag__task__run__-1") -> SubmissionLedger:
    return SubmissionLedger(key, log.logger)


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

    def test_windows(self):
        assert RESUME_WINDOW_SECONDS == RETENTION_SECONDS - 3600 == 9 * 24 * 3600 + 23 * 3600


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


class TestResume:
    KEY = "constant_contact_submitted__dag__task__run__-1"

    def test_nothing_stored_is_a_fresh_record(self, variables, clock, log):
        record = ledger(log).resume("fp-1")
        assert (record.fingerprint, record.activity_ids, record.rows_sent, record.requests_sent) == ("fp-1", [], 0, 0)
        assert variables.calls == [("get", self.KEY)]
        assert log.warnings == [] and log.infos == []

    def test_empty_stored_value_is_a_fresh_record(self, variables, clock, log):
        variables.values[self.KEY] = "{}"
        assert ledger(log).resume("fp-1").activity_ids == []
        assert log.warnings == []

    def test_same_fingerprint_within_the_window_resumes(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1", "a2"], rows_sent=30, started_at=NOW - 60)
        record = ledger(log).resume("fp-1")
        assert record == SubmissionRecord("fp-1", ["a1", "a2"], 30, NOW - 60)
        assert record.requests_sent == 2
        assert log.infos == [
            "Resuming: an earlier try already posted 2 request(s) (30 contacts): activities ['a1', 'a2']."
        ]
        assert log.warnings == []

    def test_resumes_up_to_the_end_of_the_window(self, variables, clock, log):
        started = NOW - RESUME_WINDOW_SECONDS
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1"], rows_sent=5, started_at=started)
        assert ledger(log).resume("fp-1").activity_ids == ["a1"]
        assert log.warnings == []

    @pytest.mark.parametrize("age", [RESUME_WINDOW_SECONDS + 1, RETENTION_SECONDS, 30 * 24 * 3600])
    def test_too_old_is_a_fresh_record(self, variables, clock, log, age):
        stored(variables, self.KEY, fingerprint="fp-1", activity_ids=["a1"], rows_sent=5, started_at=NOW - age)
        record = ledger(log).resume("fp-1")
        assert (record.fingerprint, record.activity_ids, record.rows_sent) == ("fp-1", [], 0)
        assert log.warnings == ["An earlier try's activities are past the 10-day retention; importing afresh."]

    def test_another_fingerprint_is_a_fresh_record(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-old", activity_ids=["a1", "a2"], rows_sent=30, started_at=NOW)
        record = ledger(log).resume("fp-new")
        assert (record.fingerprint, record.activity_ids, record.rows_sent) == ("fp-new", [], 0)
        assert log.warnings == [
            "An earlier try posted activities ['a1', 'a2'] for different input or options; importing afresh."
        ]
        assert log.infos == []

    def test_a_fresh_record_is_never_the_stored_one(self, variables, clock, log):
        stored(variables, self.KEY, fingerprint="fp-old", activity_ids=["a1"], rows_sent=1, started_at=NOW)
        record = ledger(log).resume("fp-new")
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
        ledger(log).save(record)
        assert ledger(log).resume("fp-1").started_at == NOW - 1000.5

    def test_clear_without_a_record(self, variables, log):
        ledger(log).clear()
        assert variables.calls == [("delete", self.KEY)]
        assert log.warnings == []

    def test_ledgers_of_other_task_instances_are_independent(self, variables, clock, log):
        one, two = ledger(log, "k1"), ledger(log, "k2")
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

    def post_once(self, poster: Poster, record: SubmissionRecord, variables, log, **kwargs: Any) -> dict[str, Any]:
        self.sleeps: list[float] = []
        return post_once(
            poster(record, variables, self.KEY),
            ledger=ledger(log, self.KEY),
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
        assert self.post_once(poster, record, variables, log) == {"activity_id": "a1"}
        assert poster.calls == 1 and record.reposts == 0 and self.sleeps == []
        assert poster.pending_seen == [{"index": 0, "posted_at": NOW, "contacts": 100}]

    def test_a_lost_answer_is_posted_again_never_looked_for(self, variables, clock, log):
        # Nothing in an activity tells whose it is: the only safe answer to a lost one is to post again.
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), {"activity_id": "a2"})
        assert self.post_once(poster, record, variables, log)["activity_id"] == "a2"
        assert poster.calls == 2 and record.reposts == 1 and self.sleeps == [0.5]
        assert "Posting request 1 again (1 of 3)" in log.warnings[0]

    def test_every_post_may_lose_its_answer_until_the_try_gives_up(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), lost_answer(), lost_answer())
        with pytest.raises(ConstantContactOutcomeUnknownError):
            self.post_once(poster, record, variables, log, max_unanswered=2)
        assert poster.calls == 3 and self.sleeps == [0.5, 1.0]
        # the pending mark stays saved: the task's retry knows the request may be in, and posts it again
        assert json.loads(variables.values[self.KEY])["pending"]["index"] == 0

    def test_a_refused_post_clears_the_pending_mark(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(ConstantContactApiError(400, "bad", "validation"))
        with pytest.raises(ConstantContactApiError):
            self.post_once(poster, record, variables, log)
        assert poster.calls == 1 and self.sleeps == []
        assert json.loads(variables.values[self.KEY])["pending"] is None

    def test_a_refusal_after_a_lost_answer_still_raises(self, variables, clock, log):
        record = SubmissionRecord("fp")
        poster = Poster(lost_answer(), ConstantContactApiError(400, "bad", "validation"))
        with pytest.raises(ConstantContactApiError):
            self.post_once(poster, record, variables, log)
        assert poster.calls == 2 and record.reposts == 1

    def test_a_retry_posts_the_pending_request_again(self, variables, clock, log):
        # An earlier try lost the answer of request 2 (index 1) and failed; its activity may exist.
        record = SubmissionRecord("fp", ["a1"], 100, pending={"index": 1, "posted_at": NOW - 60, "contacts": 100})
        poster = Poster({"activity_id": "a2"})
        assert self.post_once(poster, record, variables, log, index=1)["activity_id"] == "a2"
        assert poster.calls == 1 and record.reposts == 1
        assert "an earlier try's post lost its answer and may have been imported; posting it again" in log.warnings[0]

    def test_a_pending_mark_of_another_request_is_not_a_repost(self, variables, clock, log):
        record = SubmissionRecord("fp", ["a1"], 100, pending={"index": 0, "posted_at": NOW - 60, "contacts": 100})
        poster = Poster({"activity_id": "a2"})
        self.post_once(poster, record, variables, log, index=1)
        assert record.reposts == 0 and log.warnings == []
