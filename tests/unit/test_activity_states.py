"""Unit tests for cc_provider.activity: classifying bulk-activity bodies and summarising them."""

from __future__ import annotations

import json

import pytest

from cc_provider.activity import (
    MAX_ERRORS_KEPT,
    PENDING_STATES,
    STATUS_COUNTERS,
    TERMINAL_STATES,
    ActivityState,
    Outcome,
    Verdict,
    classify,
    summarize,
)

ERRORS = [
    {"message": "Invalid email address", "row": 3},
    "row 7: email already on the list",
    "row 9: bad birthday",
    "row 11: not shown (only 3 errors in the message)",
]


def activity(state, **extra) -> dict:
    body = {"activity_id": "act-123", "state": state, "percent_done": 40, **extra}
    if state is None:
        del body["state"]
    return body


class TestStates:
    def test_every_state_is_pending_or_terminal(self):
        assert PENDING_STATES | TERMINAL_STATES == set(ActivityState)
        assert not PENDING_STATES & TERMINAL_STATES
        assert PENDING_STATES == {ActivityState.INITIALIZED, ActivityState.PROCESSING}

    def test_values_match_the_api(self):
        assert {s.value for s in ActivityState} == {
            "initialized",
            "processing",
            "completed",
            "cancelled",
            "failed",
            "timed_out",
        }


class TestClassify:
    @pytest.mark.parametrize("state", ["initialized", "processing"])
    def test_pending(self, state):
        verdict = classify(activity(state, percent_done=40))
        assert verdict == Verdict("act-123", Outcome.PENDING, f"Activity act-123 is {state} (40% done).")

    def test_pending_without_percent(self):
        verdict = classify({"activity_id": "a", "state": "processing"})
        assert verdict.outcome is Outcome.PENDING
        assert verdict.message == "Activity a is processing (0% done)."

    def test_completed(self):
        verdict = classify(activity("completed", percent_done=100, activity_errors=["ignored"]))
        assert verdict == Verdict("act-123", Outcome.SUCCEEDED, "Activity act-123 completed.")

    @pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
    def test_terminal_failures_include_the_activity_errors(self, state):
        verdict = classify(activity(state, activity_errors=ERRORS))
        assert verdict.outcome is Outcome.FAILED
        assert verdict.activity_id == "act-123"
        assert verdict.message.startswith(f"Activity act-123 ended {state}: ")
        assert "Invalid email address" in verdict.message
        assert "row 7: email already on the list" in verdict.message
        assert "row 9: bad birthday" in verdict.message
        assert "row 11" not in verdict.message  # at most three errors in one sentence

    @pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
    @pytest.mark.parametrize("errors", [None, []], ids=["none", "empty"])
    def test_terminal_failures_without_errors(self, state, errors):
        body = activity(state)
        if errors is not None:
            body["activity_errors"] = errors
        verdict = classify(body)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == f"Activity act-123 ended {state}."

    def test_enum_values_are_accepted(self):
        assert classify(activity(ActivityState.COMPLETED)).outcome is Outcome.SUCCEEDED

    @pytest.mark.parametrize("state", ["paused", "COMPLETED", "Completed", "", "complete", 3, ["completed"]])
    def test_unknown_state_fails(self, state):
        verdict = classify(activity(state))
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == f"Activity act-123 reports an unknown state {state!r}."

    @pytest.mark.parametrize("body", [{"activity_id": "act-123"}, {"activity_id": "act-123", "state": None}])
    def test_missing_state_fails(self, body):
        verdict = classify(body)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == "Activity act-123 reports an unknown state None."

    def test_missing_activity_id(self):
        verdict = classify({"state": "completed"})
        assert verdict.activity_id == "?"
        assert verdict.outcome is Outcome.SUCCEEDED

    @pytest.mark.parametrize("state", list(ActivityState))
    def test_exactly_one_state_succeeds(self, state):
        outcome = classify(activity(state.value)).outcome
        if state is ActivityState.COMPLETED:
            assert outcome is Outcome.SUCCEEDED
        elif state in PENDING_STATES:
            assert outcome is Outcome.PENDING
        else:
            assert outcome is Outcome.FAILED


class TestSummarize:
    def test_keeps_the_counters(self):
        status = {key: i for i, key in enumerate(STATUS_COUNTERS, start=1)}
        body = {
            "activity_id": "act-9",
            "state": "completed",
            "percent_done": 100,
            "created_at": "2024-01-01T00:00:00Z",
            "status": {**status, "unexpected_field": "dropped"},
            "_links": {"results": {"href": "/v3/activities/act-9/results"}},
            "activity_errors": ["e1", "e2"],
        }
        summary = summarize(body)
        assert summary == {
            "activity_id": "act-9",
            "state": "completed",
            "percent_done": 100,
            **status,
            "activity_errors": ["e1", "e2"],
            "activity_errors_total": 2,
        }
        assert json.loads(json.dumps(summary)) == summary

    def test_known_counters(self):
        assert set(STATUS_COUNTERS) >= {"items_total_count", "items_completed_count", "error_count"}

    def test_only_present_counters_are_kept(self):
        summary = summarize({"activity_id": "a", "state": "processing", "status": {"items_total_count": 10}})
        assert summary["items_total_count"] == 10
        assert "error_count" not in summary and "items_completed_count" not in summary

    @pytest.mark.parametrize("status", [None, {}])
    def test_no_status(self, status):
        summary = summarize({"activity_id": "a", "state": "initialized", "status": status})
        assert summary == {
            "activity_id": "a",
            "state": "initialized",
            "percent_done": None,
            "activity_errors": [],
            "activity_errors_total": 0,
        }

    def test_errors_are_capped_and_the_total_reported(self):
        errors = [f"row {i}: invalid email" for i in range(MAX_ERRORS_KEPT * 3 + 1)]
        summary = summarize({"activity_id": "a", "state": "failed", "activity_errors": errors})
        assert MAX_ERRORS_KEPT == 20
        assert summary["activity_errors"] == errors[:MAX_ERRORS_KEPT]
        assert summary["activity_errors_total"] == MAX_ERRORS_KEPT * 3 + 1

    @pytest.mark.parametrize("n", [MAX_ERRORS_KEPT - 1, MAX_ERRORS_KEPT, MAX_ERRORS_KEPT + 1])
    def test_cap_boundary(self, n):
        errors = [f"e{i}" for i in range(n)]
        summary = summarize({"activity_errors": errors})
        assert len(summary["activity_errors"]) == min(n, MAX_ERRORS_KEPT)
        assert summary["activity_errors_total"] == n

    def test_errors_become_strings(self):
        summary = summarize({"activity_errors": [{"message": "bad", "row": 3}, 42]})
        assert summary["activity_errors"] == [str({"message": "bad", "row": 3}), "42"]
        assert all(isinstance(e, str) for e in summary["activity_errors"])

    def test_empty_body(self):
        assert summarize({}) == {
            "activity_id": None,
            "state": None,
            "percent_done": None,
            "activity_errors": [],
            "activity_errors_total": 0,
        }
