"""Activity fault knobs: the next activities fail, are cancelled, time out, stick or report an unknown state;
and an existing activity sent to a state at once."""

from __future__ import annotations

import time

import pytest
import requests

from cc_sandbox.testing import add_activity_fault, admin_call, sandbox_stats, set_activity_state

ROWS = [{"email": f"r{n}@example.com"} for n in range(10)]


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
def test_next_activity_ends_in_a_terminal_fault_state_halfway(api, sandbox, state):
    add_activity_fault(sandbox, state)
    lst = api.create_list("L")["list_id"]
    body = api.wait_for_state(api.start_import(ROWS, [lst])["activity_id"], state)
    assert body["completed_at"] and body["percent_done"] == 50
    assert body["status"]["items_completed_count"] == 5
    assert len(api.get("/contacts").json()["contacts"]) == 5  # half the rows were applied
    assert bool(body["activity_errors"]) == (state != "cancelled")
    assert sandbox_stats(sandbox)["faults_served"] == 1
    follow_up = api.wait_for_state(api.start_import(ROWS, [lst])["activity_id"], "completed")  # count=1 by default
    assert follow_up["percent_done"] == 100


def test_an_activity_can_stick_in_processing(api, sandbox):
    add_activity_fault(sandbox, "processing", at_percent=30, errors=["still going"])
    lst = api.create_list("L")["list_id"]
    activity_id = api.start_import(ROWS, [lst])["activity_id"]
    body = api.wait_for_state(activity_id, "processing")
    time.sleep(0.2)
    body = api.activity(activity_id)
    assert (body["state"], body["percent_done"], "completed_at" in body) == ("processing", 30, False)


def test_an_activity_can_stick_in_initialized(api, sandbox):
    add_activity_fault(sandbox, "initialized")
    lst = api.create_list("L")["list_id"]
    activity_id = api.start_import(ROWS, [lst])["activity_id"]
    time.sleep(0.2)
    assert api.activity(activity_id)["state"] == "initialized"


def test_an_activity_can_report_an_unknown_state(api, sandbox):
    add_activity_fault(sandbox, "paused", at_percent=0)
    lst = api.create_list("L")["list_id"]
    body = api.wait_for_state(api.start_import(ROWS, [lst])["activity_id"], "paused")
    assert body["activity_errors"] == [] and "completed_at" not in body


def test_activity_faults_match_a_kind_and_a_count(api, sandbox):
    add_activity_fault(sandbox, "failed", kind="contact_exports", count=2)
    lst = api.create_list("L")["list_id"]
    assert api.wait_for_state(api.start_import(ROWS, [lst])["activity_id"], "completed")
    for _ in range(2):
        export = api.post("/activities/contact_exports", json={}).json()
        api.wait_for_state(export["activity_id"], "failed")
    assert admin_call(sandbox, "GET", "activity_faults") == {"faults": []}


def test_activity_faults_can_be_listed_and_cleared(api, sandbox):
    add_activity_fault(sandbox, "failed", count=3)
    (fault,) = admin_call(sandbox, "GET", "activity_faults")["faults"]
    assert (fault["state"], fault["remaining"], fault["kind"]) == ("failed", 3, None)
    assert admin_call(sandbox, "DELETE", "activity_faults") == {"cleared": 1}


@pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out", "processing", "weird"])
def test_an_existing_activity_can_be_sent_to_a_state_now(api, sandbox, state):
    from cc_sandbox.testing import patch_config

    patch_config(sandbox, activity_start_delay=60)
    lst = api.create_list("L")["list_id"]
    activity_id = api.start_import(ROWS, [lst])["activity_id"]
    body = set_activity_state(sandbox, activity_id, state, errors=["Line 1: forced"] if state == "failed" else None)
    assert body["state"] == state
    assert api.activity(activity_id)["state"] == state
    if state == "failed":
        assert api.activity(activity_id)["activity_errors"] == ["Line 1: forced"]


def test_sending_an_activity_to_completed_finishes_it(api, sandbox):
    from cc_sandbox.testing import patch_config

    patch_config(sandbox, activity_start_delay=60)
    lst = api.create_list("L")["list_id"]
    activity_id = api.start_import(ROWS, [lst])["activity_id"]
    assert set_activity_state(sandbox, activity_id, "completed")["percent_done"] == 100
    assert len(api.get("/contacts").json()["contacts"]) == 10


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"state": ""},
        {"state": "completed"},
        {"state": "failed", "count": 0},
        {"state": "failed", "at_percent": 101},
        {"state": "failed", "kind": "nope"},
    ],
)
def test_bad_activity_fault_specs_are_400(sandbox, spec):
    assert requests.post(f"{sandbox.url}/__sandbox__/activity_faults", json=spec, timeout=10).status_code == 400


def test_unknown_activity_is_404_for_the_admin_call(sandbox):
    response = requests.post(f"{sandbox.url}/__sandbox__/activities/nope", json={"state": "failed"}, timeout=10)
    assert response.status_code == 404
