"""ConstantContactActivitySensor: poke, defer, and every event status of execute_complete."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from cc_provider.exceptions import ActivityFailedError, ActivityNotFoundError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.sensors.activity import ConstantContactActivitySensor
from cc_provider.triggers.activity import ConstantContactActivityTrigger
from cc_provider.waiting import DEFERRAL_MARGIN_SECONDS, RESUME_KEY
from cc_sandbox.testing import add_fault, sandbox_stats
from tests.integration.helpers import RecordingTaskInstance, slow_activities, submit_import, wait_until


@pytest.fixture(autouse=True)
def fast_retries(cc_sandbox, monkeypatch):
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    monkeypatch.setattr(ConstantContactHook, "default_max_retries", 2)
    yield
    slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)


def sensor(ids, **kwargs) -> ConstantContactActivitySensor:
    return ConstantContactActivitySensor(task_id="wait", activity_ids=ids, **kwargs)


def context() -> dict:
    return {"ti": RecordingTaskInstance()}


def activity_reads(server) -> int:
    """``GET`` requests the sandbox answered about activities so far."""
    return sum(n for route, n in sandbox_stats(server)["requests"].items() if route.startswith("GET /v3/activities"))


def fake_status(cc_sandbox, activity_id: str, state: str, count: int = 1, **extra) -> None:
    body = {"activity_id": activity_id, "state": state, "activity_errors": [], **extra}
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 200, body=body, count=count)


def test_defers_while_pending_with_a_wall_clock_deadline(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=30)
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    reads = activity_reads(cc_sandbox)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(activity_id, deferrable=True, timeout=600, poke_interval=7).execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, ConstantContactActivityTrigger)
    assert trigger.activity_ids == [activity_id]
    assert trigger.poll_interval == 7
    assert before + 600 <= trigger.end_time <= time.time() + 600
    # it looked once before deferring, so the trigger's first poll is an interval away
    assert activity_reads(cc_sandbox) == reads + 1
    assert before + 7 <= trigger.first_poll_at <= time.time() + 7
    assert deferred.value.method_name == "execute_complete"
    # Airflow's own deferral timeout backs up the trigger's deadline
    assert 600 < deferred.value.timeout.total_seconds() <= 600 + DEFERRAL_MARGIN_SECONDS
    kwargs = json.dumps(trigger.serialize()[1])
    assert cc_connection["password"] not in kwargs and cc_connection["extra"]["refresh_token"] not in kwargs


def test_returns_at_once_when_already_complete(cc_sandbox, cc_connection):
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com", "bad-email"])
    wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
    reads = activity_reads(cc_sandbox)
    ti = RecordingTaskInstance()
    result = sensor([activity_id], deferrable=True).execute({"ti": ti})  # no TaskDeferred
    assert result[0]["activity_id"] == activity_id
    assert activity_reads(cc_sandbox) == reads + 1 and ti.pushed == {}
    # an invalid address is a correctable error by the spec's definitions, not a non-correctable one
    assert (result[0]["error_count"], result[0]["correctable_count"]) == (0, 1)


def test_poke_is_false_while_pending_and_true_when_done(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=0.5)
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com"])
    task = sensor(activity_id)
    assert task.poke({}).is_done is False
    wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
    done = task.poke({})
    assert done.is_done is True
    assert done.xcom_value[0]["state"] == "completed"


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
def test_poke_fails_on_terminal_non_success_states(cc_sandbox, cc_connection, state):
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    fake_status(cc_sandbox, activity_id, state, activity_errors=["File unreadable"])
    with pytest.raises(ActivityFailedError, match=f"ended {state}: File unreadable"):
        sensor(activity_id).poke({})


def test_unknown_state_waits_for_the_grace_period_then_fails(cc_sandbox, cc_connection):
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    fake_status(cc_sandbox, activity_id, "paused_by_gremlins", count=3)
    task = sensor(activity_id, unknown_state_grace=0.3)
    assert task.poke({}).is_done is False
    time.sleep(0.4)
    with pytest.raises(ActivityFailedError, match="unknown state 'paused_by_gremlins'"):
        task.poke({})


def test_unknown_state_grace_counts_from_the_apis_updated_at(cc_sandbox, cc_connection):
    """A fresh sensor (as in reschedule mode) still fails when the state has been unknown for long."""
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    long_ago = datetime.fromtimestamp(time.time() - 3600, tz=timezone.utc).isoformat()
    fake_status(cc_sandbox, activity_id, "paused_by_gremlins", updated_at=long_ago)
    with pytest.raises(ActivityFailedError, match="unknown state"):
        sensor(activity_id, unknown_state_grace=600).poke({})


def test_expired_activity_is_a_clear_error(cc_connection):
    with pytest.raises(ActivityNotFoundError, match="keeps an activity's status for 10 days"):
        sensor("4f9d2f5e-0000-4000-8000-000000000000").poke({})


def test_transient_errors_are_waited_out_not_fatal(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=0.0)
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 503, count=3)  # outlives 2 retries
    task = sensor(activity_id)
    assert task.poke({}).is_done is False
    wait_until(lambda: task.poke({}).is_done)


def test_poke_mode_runs_to_success_through_execute(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=0.3)
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    result = sensor(activity_id, poke_interval=0.1, timeout=20).execute({})
    assert [a["state"] for a in result] == ["completed"]


def test_deferred_with_some_done_resumes_with_every_activity(cc_sandbox, cc_connection):
    """The trigger follows only the activities pending at the first look; the task returns them all."""
    hook = ConstantContactHook()
    done_id = submit_import(hook, ["a@example.com"], "Done")
    wait_until(lambda: hook.get_activity(done_id)["state"] == "completed")
    slow_activities(cc_sandbox, start_delay=30)
    pending_id = submit_import(hook, ["b@example.com"], "Pending")
    ti = RecordingTaskInstance()
    task = sensor([done_id, pending_id], deferrable=True, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"ti": ti})
    assert deferred.value.trigger.activity_ids == [pending_id]
    assert ti.pushed[RESUME_KEY]["activity_ids"] == [done_id, pending_id]
    finished = {"activity_id": pending_id, "state": "completed", "person_count": 1, "error_count": 0}
    event = {"status": "success", "message": "1 activity(ies) completed.", "activities": [finished]}
    result = task.execute_complete({"ti": ti}, event)
    assert [a["activity_id"] for a in result] == [done_id, pending_id]
    assert result[0]["state"] == "completed" and result[1] == finished


def test_execute_complete_returns_activities_only_on_success():
    activities = [{"activity_id": "x", "state": "completed", "person_count": 3, "error_count": 0}]
    event = {"status": "success", "message": "ok", "activities": activities}
    assert sensor("x").execute_complete(context(), event) == activities


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"status": "error", "message": "Activity x ended failed."}, ActivityFailedError),
        ({"status": "timeout", "message": "Timed out waiting for activities x."}, AirflowSensorTimeout),
        ({"status": "cancelled", "message": "?"}, ActivityFailedError),
        ({"message": "no status"}, ActivityFailedError),
        (None, ActivityFailedError),
    ],
)
def test_execute_complete_raises_for_anything_else(event, error):
    with pytest.raises(error):
        sensor("x").execute_complete(context(), event)


@pytest.mark.parametrize(
    ("options", "passes"),
    [
        ({}, True),
        ({"fail_on_errors": True}, False),
        ({"max_error_rate": 0.5}, True),
        ({"max_error_rate": 0.1}, False),
    ],
)
def test_completed_with_errors_passes_or_fails_by_the_counters(options, passes):
    activities = [{"activity_id": "x", "state": "completed", "person_count": 10, "error_count": 2}]
    event = {"status": "success", "message": "ok", "activities": activities}
    task = sensor("x", **options)
    if passes:
        assert task.execute_complete(context(), event) == activities
    else:
        with pytest.raises(ActivityFailedError, match="2 of 10 contact"):
            task.execute_complete(context(), event)


def test_empty_activity_ids_is_an_error(cc_connection):
    with pytest.raises(ValueError, match="nothing to wait for"):
        sensor([]).poke({})
