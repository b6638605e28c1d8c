"""ConstantContactActivityTrigger against the sandbox."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.sandbox.testing import add_fault
from cc_provider.triggers.activity import ConstantContactActivityTrigger
from tests.integration.helpers import slow_activities, submit_import


@pytest.fixture(autouse=True)
def fast_retries(cc_sandbox, monkeypatch):
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    monkeypatch.setattr(ConstantContactHook, "default_max_retries", 2)
    yield
    slow_activities(cc_sandbox, start_delay=0.0, rows_per_second=100000.0)


def make_trigger(ids: list[str], seconds: float = 20.0, poll: float = 0.1) -> ConstantContactActivityTrigger:
    return ConstantContactActivityTrigger(
        activity_ids=ids,
        constant_contact_conn_id="constant_contact_default",
        poll_interval=poll,
        end_time=time.time() + seconds,
    )


async def all_events(trigger: ConstantContactActivityTrigger) -> list[dict]:
    return [event.payload async for event in trigger.run()]


def test_serialize_round_trip_holds_only_primitives(cc_connection):
    trigger = make_trigger(["a", "b"])
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
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
