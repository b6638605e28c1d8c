"""ConstantContactActivityTrigger against the sandbox."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.triggers.activity import ConstantContactActivityTrigger
from cc_sandbox.testing import add_fault, sandbox_stats
from tests.integration.helpers import slow_activities, submit_import, wait_until


@pytest.fixture(autouse=True)
def fast_retries(cc_sandbox, monkeypatch):
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    monkeypatch.setattr(ConstantContactHook, "default_max_retries", 2)
    yield
    slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)


def make_trigger(
    ids: list[str], seconds: float = 20.0, poll: float = 0.1, first_poll_at: float | None = None
) -> ConstantContactActivityTrigger:
    return ConstantContactActivityTrigger(
        activity_ids=ids,
        constant_contact_conn_id="constant_contact_default",
        poll_interval=poll,
        end_time=time.time() + seconds,
        first_poll_at=first_poll_at,
    )


def activity_reads(server) -> int:
    """``GET`` requests the sandbox answered about activities so far."""
    return sum(n for route, n in sandbox_stats(server)["requests"].items() if route.startswith("GET /v3/activities"))


def completed_activity(hook: ConstantContactHook) -> str:
    activity_id = submit_import(hook, ["a@example.com"])
    wait_until(lambda: hook.get_activity(activity_id)["state"] == "completed")
    return activity_id


async def all_events(trigger: ConstantContactActivityTrigger) -> list[dict]:
    return [event.payload async for event in trigger.run()]


@pytest.mark.parametrize("first_poll_at", [None, 1_900_000_030.5])
def test_serialize_round_trip_holds_only_primitives(cc_connection, first_poll_at):
    trigger = make_trigger(["a", "b"], first_poll_at=first_poll_at)
    classpath, kwargs = trigger.serialize()
    assert classpath == "cc_provider.triggers.activity.ConstantContactActivityTrigger"
    assert kwargs["first_poll_at"] == first_poll_at
    assert set(kwargs) == {
        "activity_ids",
        "constant_contact_conn_id",
        "poll_interval",
        "end_time",
        "unknown_state_grace",
        "first_poll_at",
    }
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.first_poll_at == first_poll_at
    text = json.dumps(kwargs)
    for secret in (cc_connection["password"], cc_connection["extra"]["refresh_token"]):
        assert secret not in text


async def test_exactly_one_success_event_for_many_activities(cc_sandbox, cc_connection):
    hook = ConstantContactHook(backoff_base=0.01)
    ids = [submit_import(hook, ["a@example.com", "b@example.com"]), submit_import(hook, ["not-an-email"], "Other")]
    events = await all_events(make_trigger(ids))
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "success"
    assert [a["activity_id"] for a in event["activities"]] == ids
    assert [a["state"] for a in event["activities"]] == ["completed", "completed"]
    assert (event["activities"][1]["error_count"], event["activities"][1]["correctable_count"]) == (0, 1)


async def test_still_running_yields_nothing(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=30)
    hook = ConstantContactHook(backoff_base=0.01)
    trigger = make_trigger([submit_import(hook, ["a@example.com"])])
    runner = asyncio.ensure_future(anext(trigger.run()))
    await asyncio.sleep(0.6)
    assert not runner.done()
    runner.cancel()


async def test_deadline_gives_a_timeout_event(cc_sandbox, cc_connection):
    slow_activities(cc_sandbox, start_delay=30)
    hook = ConstantContactHook(backoff_base=0.01)
    activity_id = submit_import(hook, ["a@example.com"])
    events = await all_events(make_trigger([activity_id], seconds=0.5))
    assert [e["status"] for e in events] == ["timeout"]
    assert activity_id in events[0]["message"]


async def test_failed_activity_gives_an_error_event(cc_sandbox, cc_connection):
    hook = ConstantContactHook(backoff_base=0.01)
    activity_id = submit_import(hook, ["a@example.com"])
    body = {"activity_id": activity_id, "state": "failed", "activity_errors": ["Disk on fire"]}
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 200, body=body)
    events = await all_events(make_trigger([activity_id]))
    assert [e["status"] for e in events] == ["error"]
    assert "ended failed: Disk on fire" in events[0]["message"]


async def test_expired_activity_becomes_an_error_event(cc_sandbox, cc_connection):
    events = await all_events(make_trigger(["00000000-0000-0000-0000-000000000000"]))
    assert [e["status"] for e in events] == ["error"]
    assert "keeps an activity's status for 10 days" in events[0]["message"]


async def test_non_transient_api_error_becomes_an_error_event(cc_sandbox, cc_connection):
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com"])
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 403, body={"error_key": "forbidden", "error_message": "No"})
    events = await all_events(make_trigger([activity_id]))
    assert [e["status"] for e in events] == ["error"]
    assert "403" in events[0]["message"]


async def test_transient_errors_outliving_retries_are_waited_out(cc_sandbox, cc_connection):
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com"])
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 503, count=3)  # hook retries twice, then the cycle ends
    events = await asyncio.wait_for(all_events(make_trigger([activity_id])), timeout=15)
    assert [e["status"] for e in events] == ["success"]


async def test_unknown_state_fails_after_the_grace_period(cc_sandbox, cc_connection):
    hook = ConstantContactHook()
    activity_id = submit_import(hook, ["a@example.com"])
    body = {"activity_id": activity_id, "state": "archived", "activity_errors": []}
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 200, body=body, count=100)
    trigger = make_trigger([activity_id])
    trigger.unknown_state_grace = 0.3
    started = time.time()
    events = await all_events(trigger)
    assert [e["status"] for e in events] == ["error"]
    assert "unknown state 'archived'" in events[0]["message"]
    assert time.time() - started >= 0.3


async def test_progress_is_logged_once_per_activity_per_cycle(cc_sandbox, cc_connection, capsys):
    slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=20)
    hook = ConstantContactHook()
    activity_id = submit_import(hook, [f"u{i}@example.com" for i in range(20)])
    events = await all_events(make_trigger([activity_id], poll=0.25))
    assert events[0]["status"] == "success"
    lines = [line for line in capsys.readouterr().out.splitlines() if f"Activity {activity_id} is" in line]
    assert any("is processing (" in line and "% done" in line for line in lines)
    assert lines[-1].count("is completed (100% done") == 1
    assert len(lines) <= 1.0 / 0.25 + 3  # one line per cycle, about one second of processing


async def test_transient_errors_are_retried_by_the_hook(cc_sandbox, cc_connection):
    hook = ConstantContactHook(backoff_base=0.01)
    activity_id = submit_import(hook, ["a@example.com"])
    add_fault(cc_sandbox, f"/v3/activities/{activity_id}", 503)
    trigger = make_trigger([activity_id])
    events = await asyncio.wait_for(all_events(trigger), timeout=15)
    assert [e["status"] for e in events] == ["success"]


async def test_the_first_poll_waits_for_first_poll_at(cc_sandbox, cc_connection):
    """The task that deferred has just looked: the trigger does not ask again before ``first_poll_at``."""
    activity_id = completed_activity(ConstantContactHook(backoff_base=0.01))
    reads = activity_reads(cc_sandbox)
    first_poll_at = time.time() + 0.6
    runner = asyncio.ensure_future(all_events(make_trigger([activity_id], first_poll_at=first_poll_at)))
    await asyncio.sleep(0.4)
    assert not runner.done()
    assert activity_reads(cc_sandbox) == reads  # no request yet, although the activity is done
    events = await asyncio.wait_for(runner, timeout=15)
    assert time.time() >= first_poll_at
    assert [e["status"] for e in events] == ["success"]
    assert activity_reads(cc_sandbox) == reads + 1


@pytest.mark.parametrize("first_poll_at", [None, "past"])
async def test_without_first_poll_at_or_with_a_past_one_the_trigger_polls_at_once(
    cc_sandbox, cc_connection, first_poll_at
):
    activity_id = completed_activity(ConstantContactHook(backoff_base=0.01))
    at = time.time() - 60 if first_poll_at == "past" else None
    started = time.time()
    events = await asyncio.wait_for(all_events(make_trigger([activity_id], poll=5, first_poll_at=at)), timeout=15)
    assert [e["status"] for e in events] == ["success"]
    assert time.time() - started < 2.5  # not a poll interval (5 s) later


async def test_a_first_poll_at_past_the_deadline_polls_once_at_the_deadline(cc_sandbox, cc_connection):
    """The first poll is moved back to ``end_time``; pending then, the wait times out after that one look."""
    slow_activities(cc_sandbox, start_delay=30)
    activity_id = submit_import(ConstantContactHook(backoff_base=0.01), ["a@example.com"])
    reads = activity_reads(cc_sandbox)
    trigger = make_trigger([activity_id], seconds=0.5, poll=0.1, first_poll_at=time.time() + 3600)
    events = await asyncio.wait_for(all_events(trigger), timeout=15)
    assert time.time() >= trigger.end_time
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["message"] == f"Timed out waiting for activities {activity_id}."
    assert activity_reads(cc_sandbox) == reads + 1


async def test_a_first_poll_at_past_the_deadline_still_sees_a_completed_activity(cc_sandbox, cc_connection):
    activity_id = completed_activity(ConstantContactHook(backoff_base=0.01))
    trigger = make_trigger([activity_id], seconds=0.3, first_poll_at=time.time() + 3600)
    events = await asyncio.wait_for(all_events(trigger), timeout=15)
    assert [e["status"] for e in events] == ["success"]
    assert [a["activity_id"] for a in events[0]["activities"]] == [activity_id]
