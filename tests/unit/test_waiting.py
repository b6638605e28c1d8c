"""
Unit tests for cc_provider.waiting: every decision of ActivityWaiter, in milliseconds.

The host is a real ``BaseOperator`` (its ``defer`` raises ``TaskDeferred`` as in a task) whose clock and
sleep are fakes, and whose activity reads come from a script: the host's ``poll`` hands the real
``ActivityWaiter.poll`` a hook that answers from the script, so the poll step, the deadline rule, the
deferral and the judgement are the code's own. The last class runs the same component against the sandbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, ActivityWatch, Verdict, summarize
from cc_provider.exceptions import (
    ActivityFailedError,
    ActivityNotFoundError,
    ConstantContactApiError,
    ConstantContactAuthError,
    ConstantContactTransportError,
)
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.triggers.activity import ConstantContactActivityTrigger
from cc_provider.waiting import DEFERRAL_MARGIN_SECONDS, RESUME_KEY, ActivityWaiter
from cc_sandbox.testing import patch_config, sandbox_stats
from tests.integration.helpers import submit_import, wait_until
from tests.recording_log import RecordingLog

NOW = 1_900_000_000.0
POLL = 30.0
Read = dict[str, dict[str, Any]] | BaseException


class FakeClock:
    """The waiter's ``clock`` and ``sleep``: sleeping moves the clock on, and is recorded."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TaskInstance:
    """The XCom of one task instance, kept as Airflow does: JSON, per (task id, key, map index)."""

    def __init__(
        self, task_id: str = "wait", map_index: int = -1, xcoms: dict[tuple[str, str, int], str] | None = None
    ) -> None:
        self.task_id = task_id
        self.map_index = map_index
        self.xcoms = {} if xcoms is None else xcoms  # a table that mapped instances may share

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key, self.map_index)] = json.dumps(value)

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int = -1) -> Any:
        text = self.xcoms.get((task_ids, key, map_indexes))
        return None if text is None else json.loads(text)

    def pushed(self, key: str = RESUME_KEY) -> Any:
        return self.xcom_pull(self.task_id, key, self.map_index)


class ScriptedHook:
    """Answers ``get_activities`` with the next read of a script (the bodies by id, or an error to raise)."""

    def __init__(self, reads: list[Read]) -> None:
        self.reads = list(reads)
        self.asked: list[list[str]] = []

    def get_activities(self, activity_ids: list[str]) -> dict[str, dict[str, Any]]:
        self.asked.append(list(activity_ids))
        read = self.reads.pop(0)
        if isinstance(read, BaseException):
            raise read
        return read


class Waiter(ActivityWaiter, BaseOperator):
    """A host of the waiting component; ``poll`` reads through a scripted hook."""

    def __init__(
        self,
        *,
        reads: Sequence[Read] = (),
        deferrable: bool = False,
        unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE,
        max_error_rate: float | None = None,
        fail_on_errors: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id="wait", **kwargs)
        self.constant_contact_conn_id = "constant_contact_default"
        self.poll_interval = POLL
        self.deferrable = deferrable
        self.unknown_state_grace = unknown_state_grace
        self.max_error_rate = max_error_rate
        self.fail_on_errors = fail_on_errors
        self.hook = ScriptedHook(list(reads))
        self.fake_clock = FakeClock()
        self.clock = self.fake_clock
        self.sleep = self.fake_clock.sleep
        self.recording_log = RecordingLog()

    @property
    def log(self) -> RecordingLog:
        return self.recording_log

    def poll(self, hook: ConstantContactHook, watch: ActivityWatch) -> Verdict:
        return super().poll(self.hook, watch)


def waiter(reads: Sequence[Read] = (), **options: Any) -> Waiter:
    return Waiter(reads=reads, **options)


def body(activity_id: str, state: str = "processing", **status: int) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "state": state,
        "percent_done": 100 if state == "completed" else 40,
        "status": status,
    }


def read(*bodies: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["activity_id"]: b for b in bodies}


def done(activity_id: str, **status: int) -> dict[str, Any]:
    return body(activity_id, "completed", **status)


def context(ti: TaskInstance | None = None) -> dict[str, Any]:
    return {"ti": ti or TaskInstance()}


class TestDoneAtTheFirstLook:
    @pytest.mark.parametrize("deferrable", [False, True])
    def test_returns_the_judged_summaries_without_deferring_or_sleeping(self, deferrable):
        ti = TaskInstance()
        task = waiter([read(done("b", person_count=3), done("a", person_count=5))], deferrable=deferrable)
        result = task.wait(context(ti), ["a", "b"], NOW + 600)
        assert result == [summarize(done("a", person_count=5)), summarize(done("b", person_count=3))]
        assert task.hook.asked == [["a", "b"]]  # one look
        assert task.fake_clock.sleeps == []
        assert ti.xcoms == {}  # nothing kept: nothing to resume
        assert task.log.messages("info")[-1] == (
            "0 of 8 contact(s) rejected by the API (0.0%); 0 not added to lists because they unsubscribed."
        )

    def test_the_counters_are_judged_with_the_contacts_sent(self):
        # by its counters 2 of 8 were rejected (25%); the caller knows it sent 20 (10%: not above the limit)
        reads = [read(done("a", person_count=8, error_count=2))]
        assert waiter(reads, max_error_rate=0.1).wait(context(), ["a"], NOW + 600, sent=20)[0]["error_count"] == 2
        with pytest.raises(ActivityFailedError, match=r"max_error_rate=10.0%: 2 of 8 contact"):
            waiter(reads, max_error_rate=0.1).wait(context(), ["a"], NOW + 600)

    def test_fail_on_errors(self):
        task = waiter([read(done("a", person_count=8, correctable_count=1))], deferrable=True, fail_on_errors=True)
        with pytest.raises(ActivityFailedError, match="fail_on_errors is set and 1 of 8"):
            task.wait(context(), ["a"], NOW + 600)

    def test_the_look_counts_even_past_the_deadline(self):
        assert waiter([read(done("a"))]).wait(context(), ["a"], NOW - 1)[0]["state"] == "completed"


class TestDefer:
    def test_hands_only_the_pending_activities_to_the_trigger(self):
        ti = TaskInstance()
        task = waiter([read(done("a", person_count=2), body("b"), body("c"))], deferrable=True)
        state = {"rows_sent": 7, "list_ids": ["l1"]}
        with pytest.raises(TaskDeferred) as deferred:
            task.wait(context(ti), ["a", "b", "c"], NOW + 600, state=state)
        trigger = deferred.value.trigger
        assert isinstance(trigger, ConstantContactActivityTrigger)
        assert trigger.activity_ids == ["b", "c"]
        assert trigger.first_poll_at == NOW + POLL  # the task has just looked: the trigger waits an interval
        assert (trigger.end_time, trigger.poll_interval) == (NOW + 600, POLL)
        assert trigger.constant_contact_conn_id == "constant_contact_default"
        assert trigger.unknown_state_grace == DEFAULT_UNKNOWN_STATE_GRACE
        assert deferred.value.method_name == "execute_complete"
        assert deferred.value.kwargs is None  # dag.test() drops them: the state is in XCom
        assert deferred.value.timeout == timedelta(seconds=600 + DEFERRAL_MARGIN_SECONDS)
        assert ti.pushed() == {
            "state": state,
            "activity_ids": ["a", "b", "c"],
            "done": {"a": summarize(done("a", person_count=2))},
        }
        assert task.hook.asked == [["a", "b", "c"]] and task.fake_clock.sleeps == []

    def test_near_the_deadline_the_first_poll_and_the_timeout_are_capped(self):
        task = waiter([read(body("a"))], deferrable=True, unknown_state_grace=12.0)
        with pytest.raises(TaskDeferred) as deferred:
            task.wait(context(), ["a"], NOW + 5)
        assert deferred.value.trigger.first_poll_at == NOW + 5
        assert deferred.value.trigger.unknown_state_grace == 12.0
        assert deferred.value.timeout == timedelta(seconds=5 + DEFERRAL_MARGIN_SECONDS)

    def test_a_transient_error_at_the_first_look_defers_every_activity(self):
        ti = TaskInstance()
        error = ConstantContactApiError(503, None, "Service Unavailable")
        task = waiter([error], deferrable=True)
        with pytest.raises(TaskDeferred) as deferred:
            task.wait(context(ti), ["a", "b"], NOW + 600)
        assert deferred.value.trigger.activity_ids == ["a", "b"]
        assert ti.pushed() == {"state": None, "activity_ids": ["a", "b"], "done": {}}
        assert task.log.messages("warning") == [f"Polling activities failed ({error}); trying again next poll."]

    def test_a_passed_deadline_times_out_instead_of_deferring(self):
        ti = TaskInstance()
        with pytest.raises(AirflowSensorTimeout, match="Timed out waiting for activities a."):
            waiter([read(body("a"))], deferrable=True).wait(context(ti), ["a"], NOW)
        assert ti.xcoms == {}


class TestPollInTheWorker:
    def test_sleeps_from_the_poll_interval_and_polls_the_pending_until_done(self):
        reads = [read(body("a"), done("b")), read(body("a")), read(done("a"))]
        task = waiter(reads)
        result = task.wait(context(), ["a", "b"], NOW + 600)
        assert [s["activity_id"] for s in result] == ["a", "b"]
        assert task.hook.asked == [["a", "b"], ["a"], ["a"]]
        assert task.fake_clock.sleeps == [POLL, 2 * POLL]  # no progress to estimate from: backing off

    def test_the_last_sleep_is_capped_at_the_deadline(self):
        task = waiter([read(body("a")), read(body("a")), read(done("a"))])
        task.wait(context(), ["a"], NOW + 45)
        assert task.fake_clock.sleeps == [POLL, 15.0]

    def test_transient_errors_are_waited_out(self):
        task = waiter([ConstantContactTransportError("reset"), ConstantContactApiError(429, "throttled", "slow down")])
        task.hook.reads.append(read(done("a")))
        assert task.wait(context(), ["a"], NOW + 600)[0]["state"] == "completed"
        assert len(task.log.messages("warning")) == 2
        assert task.fake_clock.sleeps == [POLL, POLL]

    def test_the_deadline_raises_a_sensor_timeout_naming_the_pending(self):
        task = waiter([read(done("a"), body("b"))] + [read(body("b"))] * 2)
        with pytest.raises(AirflowSensorTimeout) as timeout:
            task.wait(context(), ["a", "b"], NOW + 45)
        assert str(timeout.value) == "Timed out waiting for activities b."
        assert len(task.hook.asked) == 3  # at NOW, NOW + 30 and at the deadline
        assert task.fake_clock.sleeps == [POLL, 15.0]


class TestFailure:
    @pytest.mark.parametrize("deferrable", [False, True])
    def test_a_failed_activity_at_the_first_look(self, deferrable):
        failed = {"activity_id": "b", "state": "failed", "activity_errors": ["File unreadable"]}
        task = waiter([read(done("a"), failed)], deferrable=deferrable)
        with pytest.raises(ActivityFailedError, match="Activity b ended failed: File unreadable"):
            task.wait(context(), ["a", "b"], NOW + 600)

    def test_a_failed_activity_after_polls(self):
        task = waiter([read(body("a")), read(body("a", "cancelled"))])
        with pytest.raises(ActivityFailedError, match="Activity a ended cancelled."):
            task.wait(context(), ["a"], NOW + 600)
        assert task.fake_clock.sleeps == [POLL]

    @pytest.mark.parametrize("deferrable", [False, True])
    def test_a_non_transient_error_is_raised_as_is(self, deferrable):
        error = ActivityNotFoundError("Constant Contact keeps an activity's status for 10 days.")
        task = waiter([error], deferrable=deferrable)
        with pytest.raises(ActivityNotFoundError) as raised:
            task.wait(context(), ["a"], NOW + 600)
        assert raised.value is error

    def test_an_unknown_state_fails_after_its_grace(self):
        reads = [read(body("a", "archived"))] * 3
        task = waiter(reads, unknown_state_grace=45.0)
        with pytest.raises(ActivityFailedError, match="unknown state 'archived' \\(for 90 s\\)"):
            task.wait(context(), ["a"], NOW + 600)
        assert task.fake_clock.sleeps == [POLL, 2 * POLL]


def deferred_task(ti: TaskInstance, state: Any = None, **options: Any) -> Waiter:
    """Defer a waiter over a, b, c with b done at the first look; return a new host, as the resumed task is."""
    with pytest.raises(TaskDeferred):
        waiter([read(body("a"), done("b", person_count=4), body("c"))], deferrable=True).wait(
            context(ti), ["a", "b", "c"], NOW + 600, state=state
        )
    return Waiter(**options)


class TestCompleteEvent:
    def test_success_merges_the_done_and_the_events_summaries_in_order(self):
        ti = TaskInstance()
        task = deferred_task(ti)
        event = {
            "status": "success",
            "message": "2 activity(ies) completed.",
            "activities": [summarize(done("c", person_count=1)), summarize(done("a", person_count=5))],
        }
        result = task.complete_event(context(ti), event)
        assert [s["activity_id"] for s in result] == ["a", "b", "c"]
        assert [s["person_count"] for s in result] == [5, 4, 1]
        assert task.log.messages("info") == [
            "2 activity(ies) completed.",
            "0 of 10 contact(s) rejected by the API (0.0%); 0 not added to lists because they unsubscribed.",
        ]

    def test_success_is_judged_with_sent(self):
        ti = TaskInstance()
        task = deferred_task(ti, max_error_rate=0.1)
        activities = [summarize(done("a", person_count=5, error_count=1)), summarize(done("c", person_count=1))]
        event = {"status": "success", "message": "ok", "activities": activities}
        assert len(task.complete_event(context(ti), event, sent=10)) == 3  # 1 of 10
        with pytest.raises(ActivityFailedError, match=r"1 of 5 contact"):
            task.complete_event(context(ti), event, sent=5)

    def test_success_without_a_kept_state_takes_the_events_order(self):
        activities = [summarize(done("y")), summarize(done("x"))]
        result = Waiter().complete_event(context(), {"status": "success", "message": "ok", "activities": activities})
        assert [s["activity_id"] for s in result] == ["y", "x"]

    def test_timeout(self):
        with pytest.raises(AirflowSensorTimeout, match="Timed out waiting for activities a."):
            Waiter().complete_event(context(), {"status": "timeout", "message": "Timed out waiting for activities a."})

    @pytest.mark.parametrize("error", [ActivityNotFoundError, ConstantContactAuthError])
    def test_errors_of_these_types_are_raised_again_by_type(self, error):
        event = {"status": "error", "message": "Waiting for activities failed: x", "error_type": error.__name__}
        with pytest.raises(error, match="Waiting for activities failed: x") as raised:
            Waiter().complete_event(context(), event)
        assert type(raised.value) is error

    @pytest.mark.parametrize("error_type", [None, "ValueError", "ConstantContactApiError", "ActivityFailedError"])
    def test_any_other_error_is_an_activity_failure(self, error_type):
        event = {"status": "error", "message": "Activity a ended failed."}
        if error_type:
            event["error_type"] = error_type
        with pytest.raises(ActivityFailedError, match="Activity a ended failed.") as raised:
            Waiter().complete_event(context(), event)
        assert type(raised.value) is ActivityFailedError

    @pytest.mark.parametrize(
        "event",
        [None, {}, {"message": "no status"}, {"status": "cancelled", "message": "?"}, {"status": "SUCCESS"}],
        ids=["none", "empty", "no-status", "unknown-status", "wrong-case"],
    )
    def test_anything_but_an_explicit_success_fails(self, event):
        with pytest.raises(ActivityFailedError) as raised:
            Waiter().complete_event(context(), event)
        assert type(raised.value) is ActivityFailedError
        if event is None:
            assert str(raised.value) == "no event received from the trigger"


class TestResumeState:
    def test_round_trip(self):
        ti = TaskInstance()
        state = {"rows_sent": 3, "list_ids": ["l1"], "members_before": {"l1": 0}}
        assert deferred_task(ti, state).resume_state(context(ti)) == state

    def test_nothing_kept_is_none(self):
        assert Waiter().resume_state(context()) is None
        ti = TaskInstance()
        deferred_task(ti)  # deferred without a state
        assert Waiter().resume_state(context(ti)) is None

    def test_a_mapped_task_reads_its_own_map_index(self):
        table: dict[tuple[str, str, int], str] = {}
        two, three = TaskInstance(map_index=2, xcoms=table), TaskInstance(map_index=3, xcoms=table)
        deferred_task(two, {"index": 2})
        deferred_task(three, {"index": 3})
        assert len(table) == 2
        assert Waiter().resume_state(context(two)) == {"index": 2}
        assert Waiter().resume_state(context(three)) == {"index": 3}

    def test_a_value_that_is_not_a_kept_state_is_ignored(self):
        ti = TaskInstance()
        ti.xcom_push(RESUME_KEY, ["not", "a", "dict"])
        assert Waiter().resume_state(context(ti)) is None
        event = {"status": "success", "message": "ok", "activities": [summarize(done("a"))]}
        assert Waiter().complete_event(context(ti), event)[0]["activity_id"] == "a"


class SandboxWaiter(ActivityWaiter, BaseOperator):
    """A host that reads through the real hook, against the sandbox."""

    def __init__(self, *, deferrable: bool, **kwargs: Any) -> None:
        super().__init__(task_id="wait", **kwargs)
        self.constant_contact_conn_id = "constant_contact_default"
        self.poll_interval = 0.05
        self.deferrable = deferrable


def activity_reads(server: Any) -> int:
    """``GET`` requests the sandbox answered about activities so far."""
    return sum(n for route, n in sandbox_stats(server)["requests"].items() if route.startswith("GET /v3/activities"))


class TestWithTheSandbox:
    """The same decisions through the real hook: one look, then defer with the pending only."""

    def import_one(self, email: str) -> str:
        return submit_import(ConstantContactHook(backoff_base=0.01), [email], f"List of {email}")

    def test_a_completed_activity_is_returned_after_one_look(self, cc_sandbox, cc_connection):
        activity_id = self.import_one("a@example.com")
        wait_until(lambda: ConstantContactHook().get_activity(activity_id)["state"] == "completed")
        reads = activity_reads(cc_sandbox)
        result = SandboxWaiter(deferrable=True).wait(context(), [activity_id], time.time() + 60)
        assert [(s["activity_id"], s["state"]) for s in result] == [(activity_id, "completed")]
        assert activity_reads(cc_sandbox) == reads + 1

    def test_only_the_pending_activity_is_deferred(self, cc_sandbox, cc_connection):
        fast = self.import_one("fast@example.com")
        wait_until(lambda: ConstantContactHook().get_activity(fast)["state"] == "completed")
        patch_config(cc_sandbox, activity_start_delay=30)
        slow = self.import_one("slow@example.com")
        ti = TaskInstance()
        with pytest.raises(TaskDeferred) as deferred:
            SandboxWaiter(deferrable=True).wait(context(ti), [fast, slow], time.time() + 60)
        assert deferred.value.trigger.activity_ids == [slow]
        kept = ti.pushed()
        assert kept["activity_ids"] == [fast, slow] and list(kept["done"]) == [fast]


def test_the_default_clock_and_sleep_are_the_wall_clocks():
    task = SandboxWaiter(deferrable=False)
    assert task.clock is time.time and task.sleep is time.sleep
