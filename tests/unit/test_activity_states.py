"""
Unit tests for cc_provider.activity: classifying bulk-activity bodies, following them across polls with
ActivityWatch (one poll step, one deadline rule), summarising them and judging their counters with
evaluate_results; every answer is a Verdict.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from cc_provider.activity import (
    DEFAULT_UNKNOWN_STATE_GRACE,
    MAX_ERRORS_KEPT,
    PENDING_STATES,
    STATUS_COUNTERS,
    TERMINAL_STATES,
    ActivityState,
    ActivityWatch,
    Outcome,
    Verdict,
    classify,
    evaluate_results,
    progress_line,
    received_count,
    rejected_count,
    summarize,
)
from cc_provider.exceptions import (
    ActivityNotFoundError,
    ConstantContactApiError,
    ConstantContactAuthError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
)
from tests.recording_log import RecordingLog

ERRORS = [
    {"message": "Invalid email address", "row": 3},
    "row 7: email already on the list",
    "row 9: bad birthday",
    "row 11: not shown (only 3 errors in the message)",
]
T0_DT = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
T0 = T0_DT.timestamp()
GRACE = 300.0


def iso(seconds_from_t0: float, suffix: str = "Z") -> str:
    """An API-style ``updated_at`` timestamp, ``seconds_from_t0`` away from T0."""
    text = (T0_DT + timedelta(seconds=seconds_from_t0)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + suffix


def activity(state, activity_id: str = "act-123", **extra) -> dict:
    body = {"activity_id": activity_id, "state": state, "percent_done": 40, **extra}
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


class TestProgressLine:
    def test_counters_in_a_fixed_order(self):
        body = activity(
            "processing",
            percent_done=40,
            status={"error_count": 1, "unexpected": 9, "items_total_count": 10, "person_count": 3},
        )
        assert progress_line(body) == (
            "Activity act-123 is processing (40% done; items_total_count 10, person_count 3, error_count 1)."
        )

    def test_every_counter(self):
        status = {key: i for i, key in enumerate(STATUS_COUNTERS)}
        line = progress_line(activity("completed", percent_done=100, status=status))
        assert line == (
            "Activity act-123 is completed (100% done; "
            + ", ".join(f"{key} {i}" for i, key in enumerate(STATUS_COUNTERS))
            + ")."
        )

    @pytest.mark.parametrize("status", [None, {}, {"unexpected": 1}])
    def test_no_counts_yet(self, status):
        body = {"activity_id": "a", "state": "initialized", "status": status}
        assert progress_line(body) == "Activity a is initialized (0% done; no counts yet)."

    def test_zero_counters_are_shown(self):
        line = progress_line(activity("processing", status={"error_count": 0}))
        assert line == "Activity act-123 is processing (40% done; error_count 0)."


class TestClassify:
    @pytest.mark.parametrize("state", ["initialized", "processing"])
    def test_pending(self, state):
        body = activity(state, status={"items_total_count": 10, "items_completed_count": 4})
        verdict = classify(body)
        assert verdict == Verdict(
            Outcome.PENDING,
            f"Activity act-123 is {state} (40% done; items_total_count 10, items_completed_count 4).",
        )
        assert verdict.message == progress_line(body)

    def test_pending_without_percent_or_counts(self):
        verdict = classify({"activity_id": "a", "state": "processing"})
        assert verdict == Verdict(Outcome.PENDING, "Activity a is processing (0% done; no counts yet).")

    def test_completed(self):
        body = activity(
            "completed",
            percent_done=100,
            activity_errors=["not part of the message"],
            status={"items_total_count": 10, "person_count": 9, "error_count": 1},
        )
        verdict = classify(body)
        assert verdict == Verdict(
            Outcome.SUCCEEDED,
            "Activity act-123 is completed (100% done; items_total_count 10, person_count 9, error_count 1).",
        )

    @pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
    def test_terminal_failures_include_the_activity_errors(self, state):
        verdict = classify(activity(state, activity_errors=ERRORS))
        assert verdict.outcome is Outcome.FAILED
        assert verdict.lines == ()  # one activity: no per-activity lines
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
        assert verdict == Verdict(Outcome.FAILED, f"Activity act-123 ended {state}.")

    def test_enum_values_are_accepted(self):
        assert classify(activity(ActivityState.COMPLETED)).outcome is Outcome.SUCCEEDED
        assert classify(activity(ActivityState.PROCESSING)).outcome is Outcome.PENDING
        assert classify(activity(ActivityState.FAILED)).outcome is Outcome.FAILED

    def test_missing_activity_id(self):
        verdict = classify({"state": "completed"})
        assert verdict == Verdict(Outcome.SUCCEEDED, "Activity ? is completed (0% done; no counts yet).")
        failed = classify({"state": "failed"})
        assert failed == Verdict(Outcome.FAILED, "Activity ? ended failed.")

    @pytest.mark.parametrize("state", list(ActivityState))
    def test_exactly_one_state_succeeds(self, state):
        outcome = classify(activity(state.value)).outcome
        if state is ActivityState.COMPLETED:
            assert outcome is Outcome.SUCCEEDED
        elif state in PENDING_STATES:
            assert outcome is Outcome.PENDING
        else:
            assert outcome is Outcome.FAILED

    @pytest.mark.parametrize("state", list(ActivityState))
    def test_known_states_ignore_the_unknown_state_arguments(self, state):
        plain = classify(activity(state.value))
        assert classify(activity(state.value), unknown_since=T0 - 10_000, now=T0, unknown_state_grace=1) == plain
        assert classify(activity(state.value), unknown_since=T0, now=T0, unknown_state_grace=10_000) == plain


class TestClassifyUnknownState:
    @pytest.mark.parametrize("state", ["paused", "COMPLETED", "Completed", "", "complete", 3, ["completed"]])
    def test_unknown_state_fails_without_grace(self, state):
        verdict = classify(activity(state))
        assert verdict == Verdict(Outcome.FAILED, f"Activity act-123 reports an unknown state {state!r} (for 0 s).")

    @pytest.mark.parametrize("body", [{"activity_id": "act-123"}, {"activity_id": "act-123", "state": None}])
    def test_missing_state_is_unknown(self, body):
        assert classify(body).message == "Activity act-123 reports an unknown state None (for 0 s)."
        pending = classify(body, unknown_since=T0, now=T0, unknown_state_grace=GRACE)
        assert pending.outcome is Outcome.PENDING

    @pytest.mark.parametrize("waited", [0.0, 1.0, 299.9])
    def test_pending_within_the_grace(self, waited):
        verdict = classify(activity("paused"), unknown_since=T0, now=T0 + waited, unknown_state_grace=GRACE)
        assert verdict == Verdict(
            Outcome.PENDING, "Activity act-123 reports an unknown state 'paused'; waiting up to 300 s."
        )

    @pytest.mark.parametrize(("waited", "shown"), [(300.0, "300"), (300.4, "300"), (86_400.0, "86400")])
    def test_fails_once_the_grace_is_used_up(self, waited, shown):
        verdict = classify(activity("paused"), unknown_since=T0, now=T0 + waited, unknown_state_grace=GRACE)
        assert verdict == Verdict(
            Outcome.FAILED, f"Activity act-123 reports an unknown state 'paused' (for {shown} s)."
        )

    @pytest.mark.parametrize(("unknown_since", "now"), [(None, None), (T0, None), (None, T0)])
    def test_without_a_start_or_a_clock_the_wait_is_zero(self, unknown_since, now):
        within = classify(activity("paused"), unknown_since=unknown_since, now=now, unknown_state_grace=GRACE)
        assert within.outcome is Outcome.PENDING
        without = classify(activity("paused"), unknown_since=unknown_since, now=now, unknown_state_grace=0.0)
        assert without.outcome is Outcome.FAILED
        assert without.message.endswith("(for 0 s).")


def poll(*bodies: dict) -> dict[str, dict]:
    """One poll's answer, keyed by activity id as activities_flow returns it."""
    return {body["activity_id"]: body for body in bodies}


def done(activity_id: str, **status) -> dict:
    return {"activity_id": activity_id, "state": "completed", "percent_done": 100, "status": status}


def running(activity_id: str, state: str = "processing", **extra) -> dict:
    return {"activity_id": activity_id, "state": state, "percent_done": 50, **extra}


class TestActivityWatch:
    def test_defaults(self):
        watch = ActivityWatch(["a", "b"])
        assert watch.unknown_state_grace == DEFAULT_UNKNOWN_STATE_GRACE
        assert watch.pending == ["a", "b"]
        assert watch.summaries == []
        assert watch.done == {} and watch.unknown_since == {}

    def test_several_polls_of_several_activities(self):
        watch = ActivityWatch(["a", "b", "c"])

        verdict = watch.observe(poll(running("a"), running("b", "initialized"), running("c")), now=T0)
        assert verdict.outcome is Outcome.PENDING
        assert verdict.message == "3 of 3 activity(ies) pending."
        # one line for those on their way, not one each (a poll of 42 activities logs one line, not 42)
        assert verdict.lines == (
            "3 activity(ies) on their way; the least advanced: Activity a is processing (50% done; no counts yet).",
        )
        assert watch.pending == ["a", "b", "c"] and watch.summaries == []

        # c completes first
        verdict = watch.observe(poll(running("a"), running("b"), done("c", person_count=5)), now=T0 + 10)
        assert verdict == Verdict(
            Outcome.PENDING,
            "2 of 3 activity(ies) pending.",
            (
                "Activity c is completed (100% done; person_count 5).",
                "2 activity(ies) on their way; the least advanced: Activity a is processing (50% done; no counts yet).",
            ),
        )
        assert watch.pending == ["a", "b"]
        assert [s["activity_id"] for s in watch.summaries] == ["c"]

        # then b; the poll need not carry c any more, and c is not looked at again
        verdict = watch.observe(poll(running("a"), done("b", person_count=4)), now=T0 + 20)
        assert verdict.outcome is Outcome.PENDING
        assert verdict.message == "1 of 3 activity(ies) pending."
        assert len(verdict.lines) == 2  # b completed; a still on its way
        assert watch.pending == ["a"]

        verdict = watch.observe(poll(done("a", person_count=3)), now=T0 + 30)
        assert verdict == Verdict(
            Outcome.SUCCEEDED, "3 activity(ies) completed.", ("Activity a is completed (100% done; person_count 3).",)
        )
        assert watch.pending == []
        # summaries follow activity_ids, not the order of completion
        assert [s["activity_id"] for s in watch.summaries] == ["a", "b", "c"]
        assert [s["person_count"] for s in watch.summaries] == [3, 4, 5]
        assert watch.summaries[0] == summarize(done("a", person_count=3))

    def test_all_done_in_one_poll(self):
        watch = ActivityWatch(["x", "y"])
        verdict = watch.observe(poll(done("y"), done("x")), now=T0)
        assert verdict.outcome is Outcome.SUCCEEDED
        assert verdict.message == "2 activity(ies) completed."
        assert [line.split()[1] for line in verdict.lines] == ["x", "y"]  # in the order of activity_ids
        assert [s["activity_id"] for s in watch.summaries] == ["x", "y"]

    def test_no_activities(self):
        verdict = ActivityWatch([]).observe({}, now=T0)
        assert verdict == Verdict(Outcome.SUCCEEDED, "0 activity(ies) completed.", ())

    def test_lines_are_the_verdict_messages(self):
        bodies = [running("a", status={"items_total_count": 3}), done("b", error_count=1), running("c", "initialized")]
        verdict = ActivityWatch(["a", "b", "c"]).observe(poll(*bodies), now=T0)
        a, b, c = (classify(body).message for body in bodies)
        assert verdict.lines == (b, f"2 activity(ies) on their way; the least advanced: {a}")

    def test_the_least_advanced_is_named(self):
        bodies = [running("a", percent_done=70), running("b", percent_done=10), running("c", percent_done=40)]
        (line,) = ActivityWatch(["a", "b", "c"]).observe(poll(*bodies), now=T0).lines
        assert line.endswith(classify(bodies[1]).message)

    def test_a_failure_stops_at_once(self):
        watch = ActivityWatch(["a", "b", "c"])
        verdict = watch.observe(
            poll(done("a"), running("b", "failed", activity_errors=["file is empty"]), done("c")), now=T0
        )
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == "Activity b ended failed: file is empty"
        assert verdict.lines == ("Activity a is completed (100% done; no counts yet).", verdict.message)
        # what completed before the failure is kept; what came after was not looked at
        assert list(watch.done) == ["a"]
        assert watch.pending == ["b", "c"]

    @pytest.mark.parametrize("state", ["failed", "cancelled", "timed_out"])
    def test_a_failure_after_earlier_polls(self, state):
        watch = ActivityWatch(["a", "b"])
        assert watch.observe(poll(running("a"), running("b")), now=T0).outcome is Outcome.PENDING
        verdict = watch.observe(poll(running("a"), running("b", state)), now=T0 + 5)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == f"Activity b ended {state}."
        assert verdict.lines == (verdict.message,)

    def test_known_states_record_no_unknown_since(self):
        watch = ActivityWatch(["a"])
        watch.observe(poll(running("a", updated_at=iso(-10_000))), now=T0)
        assert watch.unknown_since == {}


class TestActivityWatchUnknownState:
    def test_pending_within_the_grace_then_failing(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", "queued")), now=T0)
        assert verdict.outcome is Outcome.PENDING
        assert verdict.lines == ("Activity a reports an unknown state 'queued'; waiting up to 300 s.",)
        assert watch.unknown_since == {"a": T0}

        assert watch.observe(poll(running("a", "queued")), now=T0 + 299).outcome is Outcome.PENDING
        assert watch.unknown_since == {"a": T0}  # first seen is kept

        verdict = watch.observe(poll(running("a", "queued")), now=T0 + 300)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == "Activity a reports an unknown state 'queued' (for 300 s)."

    def test_an_unknown_state_that_resolves_by_itself(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        assert watch.observe(poll(running("a", "queued")), now=T0).outcome is Outcome.PENDING
        assert watch.observe(poll(done("a")), now=T0 + 100).outcome is Outcome.SUCCEEDED

    def test_zero_grace_fails_on_the_first_poll(self):
        verdict = ActivityWatch(["a"], unknown_state_grace=0).observe(poll(running("a", "queued")), now=T0)
        assert verdict.outcome is Outcome.FAILED

    def test_grace_counts_from_updated_at_when_it_is_earlier(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", "queued", updated_at=iso(-100))), now=T0)
        assert verdict.outcome is Outcome.PENDING
        assert watch.unknown_since == {"a": T0 - 100}
        assert watch.observe(poll(running("a", "queued", updated_at=iso(-100))), now=T0 + 199).outcome is (
            Outcome.PENDING
        )
        verdict = watch.observe(poll(running("a", "queued", updated_at=iso(-100))), now=T0 + 200)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message.endswith("(for 300 s).")

    @pytest.mark.parametrize(
        "stamp",
        [
            lambda seconds: iso(seconds),  # whole seconds, Z
            lambda seconds: iso(seconds, ".108Z"),  # milliseconds, as the spec's examples (FIDELITY.md)
            # the same instant with an offset, as contacts carry it (seed 002)
            lambda seconds: (T0_DT + timedelta(seconds=seconds)).astimezone(timezone(timedelta(hours=-5))).isoformat(),
        ],
        ids=["seconds_z", "millis_z", "offset"],
    )
    def test_every_timestamp_form_of_the_api_is_read(self, stamp):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", "queued", updated_at=stamp(-3600))), now=T0)
        assert verdict.outcome is Outcome.FAILED
        assert "(for 3600 s)" in verdict.message or "(for 3599 s)" in verdict.message

    def test_an_old_updated_at_fails_on_the_first_poll(self):
        """A task that starts waiting (or resumes) long after the state appeared does not wait again."""
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", "queued", updated_at=iso(-3600))), now=T0)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == "Activity a reports an unknown state 'queued' (for 3600 s)."

    def test_grace_counts_from_first_seen_when_updated_at_is_later(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        watch.observe(poll(running("a", "queued", updated_at=iso(0))), now=T0)
        # the API bumps updated_at on every poll; the start does not move
        watch.observe(poll(running("a", "queued", updated_at=iso(250))), now=T0 + 250)
        assert watch.unknown_since == {"a": T0}
        verdict = watch.observe(poll(running("a", "queued", updated_at=iso(300))), now=T0 + 300)
        assert verdict.outcome is Outcome.FAILED

    def test_updated_at_in_the_future_is_ignored(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        watch.observe(poll(running("a", "queued", updated_at=iso(+3600))), now=T0)
        assert watch.unknown_since == {"a": T0}

    def test_an_earlier_updated_at_on_a_later_poll_moves_the_start_back(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        watch.observe(poll(running("a", "queued")), now=T0)
        watch.observe(poll(running("a", "queued", updated_at=iso(-50))), now=T0 + 10)
        assert watch.unknown_since == {"a": T0 - 50}

    @pytest.mark.parametrize("suffix", ["Z", "+00:00", ".250Z", ".250+00:00"])
    def test_updated_at_formats(self, suffix):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        watch.observe(poll(running("a", "queued", updated_at=iso(-100, suffix))), now=T0)
        expected = T0 - 100 + (0.25 if suffix.startswith(".250") else 0.0)
        assert watch.unknown_since["a"] == pytest.approx(expected)

    def test_updated_at_with_another_offset(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        # 13:58:20 at +02:00 is 11:58:20 UTC, 100 s before T0
        watch.observe(poll(running("a", "queued", updated_at="2030-01-01T13:58:20+02:00")), now=T0)
        assert watch.unknown_since == {"a": T0 - 100}

    @pytest.mark.parametrize(
        "updated_at",
        [None, "", "yesterday", "2030-13-45T00:00:00Z", "not-a-dateZ", 1_800_000_000, 17.5, ["2030-01-01"], {}],
    )
    def test_bad_or_missing_updated_at_counts_from_first_seen(self, updated_at):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        body = running("a", "queued")
        if updated_at is not None:
            body["updated_at"] = updated_at
        assert watch.observe(poll(body), now=T0).outcome is Outcome.PENDING
        assert watch.unknown_since == {"a": T0}
        assert watch.observe(poll(body), now=T0 + 299).outcome is Outcome.PENDING
        assert watch.observe(poll(body), now=T0 + 300).outcome is Outcome.FAILED

    def test_each_activity_has_its_own_start(self):
        watch = ActivityWatch(["a", "b", "c"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", "queued"), running("b"), running("c")), now=T0)
        assert verdict.outcome is Outcome.PENDING
        verdict = watch.observe(poll(running("a", "queued"), running("b", "queued"), running("c")), now=T0 + 200)
        assert verdict.outcome is Outcome.PENDING
        assert watch.unknown_since == {"a": T0, "b": T0 + 200}
        verdict = watch.observe(poll(running("a", "queued"), running("b", "queued"), running("c")), now=T0 + 300)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message.startswith("Activity a reports an unknown state")
        assert len(verdict.lines) == 1

    def test_missing_state_is_unknown(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll({"activity_id": "a"}), now=T0)
        assert verdict.outcome is Outcome.PENDING
        assert verdict.lines == ("Activity a reports an unknown state None; waiting up to 300 s.",)

    def test_grace_restarts_after_a_known_state(self):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        watch.observe(poll(running("a", "queued")), now=T0)
        watch.observe(poll(running("a")), now=T0 + 100)
        verdict = watch.observe(poll(running("a", "queued")), now=T0 + 1000)
        assert verdict.outcome is Outcome.PENDING

    @pytest.mark.parametrize("state", [["completed"], {"name": "completed"}])
    def test_unhashable_state_is_an_unknown_state(self, state):
        watch = ActivityWatch(["a"], unknown_state_grace=GRACE)
        verdict = watch.observe(poll(running("a", state)), now=T0)
        assert verdict.outcome is Outcome.PENDING


class TestStep:
    """One poll step, as the worker and the trigger take it: a read (bodies or the error reading them) in."""

    @pytest.mark.parametrize(
        "error",
        [
            ConstantContactApiError(503, None, "Service Unavailable", method="GET", path="/v3/activities/a"),
            ConstantContactApiError(500, None, "boom"),
            ConstantContactApiError(429, "throttled", "Too many requests"),
            ConstantContactTransportError("Connection reset by peer"),
        ],
        ids=["503", "500", "429", "transport"],
    )
    def test_a_transient_error_keeps_the_wait_pending_with_a_warning(self, error):
        watch, log = ActivityWatch(["a"]), RecordingLog()
        verdict = watch.step(error, T0, log)
        assert verdict == Verdict(Outcome.PENDING, f"Polling activities failed: {error}")
        assert log.records == [("warning", f"Polling activities failed ({error}); trying again next poll.")]
        assert watch.pending == ["a"] and watch.done == {}
        # the next poll takes up where the failed one left off
        assert watch.step(poll(done("a")), T0 + 30, log).outcome is Outcome.SUCCEEDED

    @pytest.mark.parametrize(
        "error",
        [
            ActivityNotFoundError("Constant Contact keeps an activity's status for 10 days."),
            ConstantContactApiError(403, "forbidden", "No"),
            ConstantContactApiError(404, None, "Not found"),
            ConstantContactQuotaExceededError(429, "quota", "Daily quota used up"),
            ConstantContactAuthError("Re-authorize the connection."),
            ValueError("not JSON"),
        ],
        ids=["not-found", "403", "404", "quota", "auth", "other"],
    )
    def test_any_other_error_is_raised(self, error):
        watch, log = ActivityWatch(["a"]), RecordingLog()
        with pytest.raises(type(error)) as raised:
            watch.step(error, T0, log)
        assert raised.value is error
        assert log.records == []

    def test_lines_are_logged_and_the_verdict_is_observes(self):
        bodies = poll(running("a"), done("b", person_count=2))
        log = RecordingLog()
        verdict = ActivityWatch(["a", "b"]).step(bodies, T0, log)
        assert verdict == ActivityWatch(["a", "b"]).observe(bodies, T0)
        assert verdict.outcome is Outcome.PENDING
        assert log.records == [
            ("info", "Activity b is completed (100% done; person_count 2)."),
            ("info", "Activity a is processing (50% done; no counts yet)."),
        ]

    def test_a_failure_is_returned_not_raised_with_its_lines_logged(self):
        # the caller decides how a failure ends the wait (an exception in the worker, an event in the trigger)
        log = RecordingLog()
        verdict = ActivityWatch(["a", "b"]).step(poll(done("a"), running("b", "cancelled")), T0, log)
        assert verdict.outcome is Outcome.FAILED
        assert verdict.message == "Activity b ended cancelled."
        assert log.records == [
            ("info", "Activity a is completed (100% done; no counts yet)."),
            ("info", "Activity b ended cancelled."),
        ]

    def test_unknown_state_grace_counts_with_the_given_time(self):
        watch, log = ActivityWatch(["a"], unknown_state_grace=GRACE), RecordingLog()
        assert watch.step(poll(running("a", "queued")), T0, log).outcome is Outcome.PENDING
        assert watch.step(poll(running("a", "queued")), T0 + GRACE, log).outcome is Outcome.FAILED


class TestSecondsToNextPoll:
    """The one deadline rule of the worker and the trigger."""

    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            (T0, 30.0),  # long before the deadline: a whole interval
            (T0 + 60, 30.0),
            (T0 + 70, 30.0),  # exactly one interval left
            (T0 + 80, 20.0),  # less than an interval left: capped at the remaining time
            (T0 + 99.5, 0.5),
        ],
    )
    def test_before_the_deadline(self, now, expected):
        assert ActivityWatch(["a"]).seconds_to_next_poll(now, T0 + 100, 30.0) == pytest.approx(expected)

    @pytest.mark.parametrize("now", [T0 + 100, T0 + 100.001, T0 + 10_000])
    def test_at_or_after_the_deadline_there_is_no_next_poll(self, now):
        assert ActivityWatch(["a"]).seconds_to_next_poll(now, T0 + 100, 30.0) is None

    def test_a_zero_interval_polls_again_at_once(self):
        assert ActivityWatch(["a"]).seconds_to_next_poll(T0, T0 + 100, 0.0) == 0.0

    def test_an_instance_uses_the_same_rule(self):
        assert ActivityWatch(["a"]).seconds_to_next_poll(T0, T0 + 5, 30.0) == 5.0


def at(seconds: float) -> str:
    """``T0 + seconds`` as the API writes ``started_at``."""
    return (T0_DT + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class TestPollPlan:
    """Poll by estimate: when the slowest pending activity should finish, else back off."""

    def test_the_wait_is_the_estimated_time_to_finish_plus_a_tenth(self):
        watch = ActivityWatch(["a"])
        watch.observe({"a": activity("processing", "a", percent_done=25, started_at=at(0))}, T0 + 30)
        # 25% in 30 s: 90 s to go
        assert watch.seconds_to_next_poll(T0 + 30, T0 + 10_000, 15.0) == pytest.approx(99.0)

    def test_several_pending_wait_for_the_slowest(self):
        watch = ActivityWatch(["a", "b"])
        bodies = {
            "a": activity("processing", "a", percent_done=50, started_at=at(0)),  # 10 s to go
            "b": activity("processing", "b", percent_done=10, started_at=at(0)),  # 90 s to go
        }
        watch.observe(bodies, T0 + 10)
        assert watch.seconds_to_next_poll(T0 + 10, T0 + 10_000, 1.0) == pytest.approx(99.0)

    def test_without_progress_the_wait_doubles_from_the_poll_interval(self):
        watch = ActivityWatch(["a"])
        waits = []
        for n in range(8):
            watch.observe({"a": activity("initialized", "a", percent_done=0)}, T0 + n)
            waits.append(watch.seconds_to_next_poll(T0 + n, T0 + 100_000, 15.0))
        assert waits == [15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]

    def test_one_pending_activity_without_progress_means_backing_off(self):
        watch = ActivityWatch(["a", "b"])
        bodies = {
            "a": activity("processing", "a", percent_done=50, started_at=at(0)),
            "b": activity("initialized", "b", percent_done=0),
        }
        watch.observe(bodies, T0 + 10)
        watch.observe(bodies, T0 + 20)
        assert watch.seconds_to_next_poll(T0 + 20, T0 + 10_000, 5.0) == 10.0

    def test_progress_resets_the_back_off(self):
        watch = ActivityWatch(["a"])
        for n in range(4):
            watch.observe({"a": activity("initialized", "a", percent_done=0)}, T0 + n)
        watch.observe({"a": activity("processing", "a", percent_done=80, started_at=at(0))}, T0 + 8)
        assert watch.seconds_to_next_poll(T0 + 8, T0 + 10_000, 1.0) == pytest.approx(2.2)
        watch.observe({"a": activity("processing", "a", percent_done=0, started_at=at(0))}, T0 + 9)
        assert watch.seconds_to_next_poll(T0 + 9, T0 + 10_000, 1.0) == 1.0

    @pytest.mark.parametrize(
        ("percent", "interval", "deadline", "expected"),
        [
            (99, 15.0, 10_000, 15.0),  # about to finish: never sooner than the poll interval
            (1, 15.0, 100_000, 600.0),  # hours to go: at most MAX_POLL_WAIT
            (1, 900.0, 100_000, 900.0),  # ... unless the poll interval is longer still
            (1, 15.0, 130, 30.0),  # and never past the deadline
        ],
    )
    def test_the_bounds(self, percent, interval, deadline, expected):
        watch = ActivityWatch(["a"])
        watch.observe({"a": activity("processing", "a", percent_done=percent, started_at=at(0))}, T0 + 100)
        assert watch.seconds_to_next_poll(T0 + 100, T0 + deadline, interval) == pytest.approx(expected)

    def test_a_started_at_in_the_future_or_unreadable_gives_no_estimate(self):
        watch = ActivityWatch(["a"])
        watch.observe({"a": activity("processing", "a", percent_done=50, started_at=at(500))}, T0)
        assert watch.seconds_to_next_poll(T0, T0 + 10_000, 15.0) == 15.0
        watch.observe({"a": activity("processing", "a", percent_done=50, started_at="soon")}, T0)
        assert watch.seconds_to_next_poll(T0, T0 + 10_000, 15.0) == 30.0

    def test_a_two_hour_import_costs_a_handful_of_polls(self):
        """Linear progress over two hours, polled every 15 s today: 480 polls; by estimate, at most 30."""
        duration, now, polls = 7200.0, T0 + 5, 0
        watch = ActivityWatch(["a"])
        while True:
            polls += 1
            percent = min(100, int(100 * (now - T0) / duration))
            state = "completed" if percent >= 100 else "processing"
            verdict = watch.observe({"a": activity(state, "a", percent_done=percent, started_at=at(0))}, now)
            if verdict.outcome is Outcome.SUCCEEDED:
                break
            wait = watch.seconds_to_next_poll(now, T0 + 3 * duration, 15.0)
            assert wait is not None
            now += wait
        assert polls <= 30
        assert now - (T0 + duration) < 600  # seen done within one long wait of finishing


class TestTimeoutMessage:
    def test_names_the_pending_activities_in_order(self):
        watch = ActivityWatch(["a", "b", "c"])
        watch.observe(poll(running("a"), done("b"), running("c")), T0)
        assert watch.timeout_message == "Timed out waiting for activities a, c."


def summary(person: int | None = None, errors: int | None = None, correctable: int | None = None, **extra) -> dict:
    """A summary with ``person_count``, ``error_count`` and ``correctable_count`` where given."""
    body: dict = {"activity_id": "x", "state": "completed", "activity_errors": [], **extra}
    for key, value in (("person_count", person), ("error_count", errors), ("correctable_count", correctable)):
        if value is not None:
            body[key] = value
    return body


UNSUB_NONE = "0 not added to lists because they unsubscribed."


class TestCounters:
    """The spec's definitions: error_count and correctable_count are two kinds of rejection, added."""

    @pytest.mark.parametrize(
        ("body", "rejected"),
        [
            (summary(), 0),
            (summary(10, 2), 2),
            (summary(10, None, 3), 3),
            (summary(10, 2, 3), 5),  # non-correctable and correctable errors are different contacts
            (summary(10, 0, 0), 0),
        ],
    )
    def test_rejected_count_adds_both_kinds(self, body, rejected):
        assert rejected_count(body) == rejected

    @pytest.mark.parametrize(
        ("body", "received"),
        [
            (summary(10, 2, 3), 10),  # person_count: "the contacts in the import file"
            (summary(5, 2, 3, items_total_count=11), 11),  # a person_count that leaves bad rows out
            (summary(None, 2, 3), 5),  # only the errors are known: at least that many were received
            (summary(items_total_count=40), 40),
            (summary(), 0),
        ],
    )
    def test_received_count_is_the_largest_bound(self, body, received):
        assert received_count(body) == received


SUCCEEDED, FAILED = Outcome.SUCCEEDED, Outcome.FAILED


class TestEvaluateResults:
    def test_no_activities(self):
        assert evaluate_results([]) == Verdict(SUCCEEDED, f"0 of 0 contact(s) rejected by the API (0.0%); {UNSUB_NONE}")
        assert evaluate_results([], max_error_rate=0.0, fail_on_errors=True).outcome is SUCCEEDED

    @pytest.mark.parametrize(
        "summaries",
        [[summary()], [summary(0, 0, 0)], [summary(items_total_count=0)], [summary(None, None, person_count=None)]],
    )
    def test_zero_totals(self, summaries):
        verdict = evaluate_results(summaries, max_error_rate=0.0, fail_on_errors=True)
        assert verdict.outcome is SUCCEEDED
        assert verdict.message.startswith("0 of 0 contact(s) rejected by the API (0.0%)")

    def test_only_items_total_count(self):
        verdict = evaluate_results([summary(items_total_count=40)], max_error_rate=0.0)
        assert verdict == Verdict(SUCCEEDED, f"0 of 40 contact(s) rejected by the API (0.0%); {UNSUB_NONE}")

    def test_correctable_errors_are_rejections(self):
        # The sandbox used to count a bad row in both counters; by the spec they are disjoint.
        verdict = evaluate_results([summary(10, 0, 2)], fail_on_errors=True)
        assert verdict == Verdict(
            FAILED, f"fail_on_errors is set and 2 of 10 contact(s) rejected by the API (20.0%); {UNSUB_NONE}"
        )

    def test_a_known_number_sent_is_the_denominator(self):
        # person_count may or may not count the rejected rows: the operator knows what it sent
        assert evaluate_results([summary(8, 1, 1)], sent=10).message.startswith("2 of 10 contact(s)")
        assert evaluate_results([summary(10, 1, 1)], sent=10).message.startswith("2 of 10 contact(s)")

    def test_counts_are_summed_over_activities(self):
        summaries = [summary(10, 2), summary(items_total_count=30), summary(10, 4, 6, cannot_add_to_list_count=4)]
        assert evaluate_results(summaries) == Verdict(
            SUCCEEDED,
            "12 of 50 contact(s) rejected by the API (24.0%); 4 not added to lists because they unsubscribed.",
        )

    def test_fail_on_errors(self):
        verdict = evaluate_results([summary(10, 1)], fail_on_errors=True)
        assert verdict == Verdict(
            FAILED, f"fail_on_errors is set and 1 of 10 contact(s) rejected by the API (10.0%); {UNSUB_NONE}"
        )

    def test_fail_on_errors_without_errors_passes(self):
        assert evaluate_results([summary(10, 0, 0)], fail_on_errors=True).outcome is SUCCEEDED

    def test_fail_on_errors_is_reported_before_the_rate(self):
        verdict = evaluate_results([summary(5, 5)], max_error_rate=0.1, fail_on_errors=True)
        assert verdict.outcome is FAILED
        assert verdict.message.startswith("fail_on_errors is set and 5 of 5")

    @pytest.mark.parametrize(
        ("sent", "errors", "max_rate"),
        [(10, 1, 0.1), (100, 10, 0.1), (3, 1, 1 / 3), (4, 4, 1.0), (10, 0, 0.0), (4, 1, 0.25)],
    )
    def test_a_rate_equal_to_max_error_rate_passes(self, sent, errors, max_rate):
        assert evaluate_results([summary(sent, errors)], max_error_rate=max_rate).outcome is SUCCEEDED
        assert evaluate_results([summary(None, 0, errors)], max_error_rate=max_rate, sent=sent).outcome is SUCCEEDED

    @pytest.mark.parametrize(("sent", "errors", "max_rate"), [(10, 2, 0.1), (1000, 101, 0.1), (10, 1, 0.0)])
    def test_a_rate_above_max_error_rate_fails(self, sent, errors, max_rate):
        verdict = evaluate_results([summary(sent, errors)], max_error_rate=max_rate)
        assert verdict.outcome is FAILED
        assert verdict.message.startswith(f"The error rate is above max_error_rate={max_rate:.1%}: {errors} of ")

    def test_rate_message(self):
        assert evaluate_results([summary(10, 1, 1)], max_error_rate=0.1) == Verdict(
            FAILED,
            f"The error rate is above max_error_rate=10.0%: 2 of 10 contact(s) rejected by the API (20.0%); "
            f"{UNSUB_NONE}",
        )

    def test_without_thresholds_everything_passes(self):
        assert evaluate_results([summary(100, 50, 50)]).outcome is SUCCEEDED

    def test_unsubscribed_contacts_are_reported_not_failed(self):
        summaries = [summary(10, 0, cannot_add_to_list_count=6), summary(5, 0, cannot_add_to_list_count=None)]
        assert evaluate_results(summaries, max_error_rate=0.0, fail_on_errors=True) == Verdict(
            SUCCEEDED, "0 of 15 contact(s) rejected by the API (0.0%); 6 not added to lists because they unsubscribed."
        )

    def test_first_activity_error_is_quoted(self):
        summaries = [
            summary(5, 0, activity_errors=[]),
            summary(5, 2, activity_errors=["row 3: invalid email", "row 4: invalid phone"]),
            summary(4, 1, activity_errors=["row 9: later"]),
        ]
        verdict = evaluate_results(summaries)
        assert verdict.outcome is SUCCEEDED
        assert verdict.message.endswith(f"{UNSUB_NONE} First error: row 3: invalid email")
        assert "row 4" not in verdict.message and "row 9" not in verdict.message
        failed = evaluate_results(summaries, fail_on_errors=True)
        assert failed.outcome is FAILED
        assert failed.message.endswith("First error: row 3: invalid email")

    def test_no_first_error_without_activity_errors(self):
        assert "First error" not in evaluate_results([summary(5, 1), {"person_count": 2}]).message

    def test_a_judgement_has_no_per_activity_lines(self):
        assert evaluate_results([summary(10, 1)]).lines == ()
        assert evaluate_results([summary(10, 1)], fail_on_errors=True).lines == ()

    def test_works_on_summarize_output(self):
        bodies = [
            {
                "activity_id": "a",
                "state": "completed",
                "status": {"items_total_count": 10, "person_count": 10, "error_count": 1, "correctable_count": 2},
                "activity_errors": [{"message": "bad email", "row": 2}],
            },
            {"activity_id": "b", "state": "completed", "status": {"items_total_count": 10}},
        ]
        verdict = evaluate_results([summarize(b) for b in bodies], max_error_rate=0.15)
        assert verdict.outcome is SUCCEEDED  # 3 of 20
        assert verdict.message.startswith("3 of 20 contact(s) rejected by the API (15.0%)")
        assert verdict.message.endswith("First error: {'message': 'bad email', 'row': 2}")
        assert evaluate_results([summarize(b) for b in bodies], max_error_rate=0.14).outcome is FAILED


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
        assert set(STATUS_COUNTERS) >= {
            "items_total_count",
            "items_completed_count",
            "person_count",
            "error_count",
            "cannot_add_to_list_count",
        }

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

    def test_empty_body(self):
        assert summarize({}) == {
            "activity_id": None,
            "state": None,
            "percent_done": None,
            "activity_errors": [],
            "activity_errors_total": 0,
        }
