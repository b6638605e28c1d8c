"""ConstantContactActivitySensor: poke, defer, and every event status of execute_complete."""

from __future__ import annotations

import json
import time

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from cc_provider.exceptions import ActivityFailedError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.sandbox.testing import add_fault
from cc_provider.sensors.activity import ConstantContactActivitySensor
from cc_provider.triggers.activity import ConstantContactActivityTrigger
from tests.integration.helpers import slow_activities, submit_import, wait_until


@pytest.fixture(autouse=True)
def restore_speed(cc_sandbox):
    yield
    slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)


def sensor(ids, **kwargs) -> ConstantContactActivitySensor:
    return ConstantContactActivitySensor(task_id="wait", activity_ids=ids, **kwargs)


def test_defers_while_pending_with_a_wall_clock_deadline(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=30)
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(activity_id, deferrable=True, timeout=600, poke_interval=7).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ConstantContactActivityTrigger)
    assert trigger.activity_ids == [activity_id]
    assert trigger.poll_interval == 7
    assert before + 600 <= trigger.end_time <= time.time() + 600
    assert deferred.value.method_name == "execute_complete"
    kwargs = json.dumps(trigger.serialize()[1])
    assert cc_connection["password"] not in kwargs and cc_connection["extra"]["refresh_token"] not in kwargs


def test_returns_at_once_when_already_complete(cc_sandbox, cc_connection):
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com", "bad-email"])
    wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
    result = sensor([activity_id], deferrable=True).execute({})
    assert result[0]["activity_id"] == activity_id
    assert result[0]["error_count"] == 1


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


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out", "paused_by_gremlins"])
def test_poke_fails_on_terminal_non_success_states(cc_sandbox, cc_connection, state):
    activity_id = submit_import(ConstantContactHook(), ["a@example.com"])
    body = {"activity_id": activity_id, "state": state, "activity_errors": []}
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 200, body=body)
    with pytest.raises(ActivityFailedError, match=state):
        sensor(activity_id).poke({})


def test_execute_complete_returns_activities_only_on_success():
    activities = [{"activity_id": "x", "state": "completed"}]
    assert (
        sensor("x").execute_complete({}, {"status": "success", "message": "ok", "activities": activities}) == activities
    )


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"status": "error", "message": "Activity x ended failed."}, ActivityFailedError),
        ({"status": "timeout", "message": "Timed out waiting for activities x."}, AirflowSensorTimeout),
        ({"status": "cancelled", "message": "?"}, ActivityFailedError),
        (None, ActivityFailedError),
    ],
)
def test_execute_complete_raises_for_anything_else(event, error):
    with pytest.raises(error):
        sensor("x").execute_complete({}, event)


def test_empty_activity_ids_is_an_error(cc_connection):
    with pytest.raises(ValueError, match="nothing to wait for"):
        sensor([]).poke({})
