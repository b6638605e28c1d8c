"""
Bulk-activity states, and the one classification shared by every way of waiting.

The sensor (poke, reschedule and deferrable), the trigger and the import operators all decide through
:func:`classify`, :class:`ActivityWatch` (one poll step, one deadline rule) and :func:`evaluate_results`,
each answering with a :class:`Verdict`; none of them branches on raw state strings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cc_provider.exceptions import is_transient_error

STATUS_COUNTERS = (
    "items_total_count",
    "items_completed_count",
    "person_count",
    "error_count",
    "correctable_count",
    "cannot_add_to_list_count",
    "list_count",
)
MAX_ERRORS_KEPT = 20
#: Constant Contact keeps an activity's status for 10 days.
RETENTION_SECONDS = 10 * 24 * 3600
#: How long an activity may report a state this code does not know before the wait fails.
DEFAULT_UNKNOWN_STATE_GRACE = 300.0
#: The longest wait between two polls the estimate may choose (each poll costs a request), unless the
#: configured poll interval is longer still.
MAX_POLL_WAIT = 600.0
#: A poll planned from an estimate comes this much later than the estimate, so it finds the work done.
ESTIMATE_SLACK = 1.1


class ActivityState(str, enum.Enum):
    """Life cycle of a Constant Contact bulk activity."""

    INITIALIZED = "initialized"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


PENDING_STATES = frozenset({ActivityState.INITIALIZED, ActivityState.PROCESSING})
TERMINAL_STATES = frozenset(set(ActivityState) - PENDING_STATES)
KNOWN_STATES = frozenset(state.value for state in ActivityState)


class Outcome(str, enum.Enum):
    """What a waiter should do about an activity."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    """
    What a look at activities decided, with a sentence for logs and errors.

    :ivar lines: for a poll of several activities, one line for each activity looked at.
    """

    outcome: Outcome
    message: str
    lines: tuple[str, ...] = ()


def classify(
    activity: Mapping[str, Any],
    *,
    unknown_since: float | None = None,
    now: float | None = None,
    unknown_state_grace: float = 0.0,
) -> Verdict:
    """
    Classify an activity status body.

    Only ``completed`` succeeds; ``initialized`` and ``processing`` are pending; ``failed``,
    ``cancelled`` and ``timed_out`` fail. A state this code does not know stays pending for
    ``unknown_state_grace`` seconds after ``unknown_since`` (the API may add a state that resolves by
    itself), then fails.
    """
    activity_id = str(activity.get("activity_id", "?"))
    raw_state = activity.get("state")
    try:
        state = ActivityState(raw_state)
    except ValueError:
        message = f"Activity {activity_id} reports an unknown state {raw_state!r}"
        waited = 0.0 if unknown_since is None or now is None else now - unknown_since
        if waited < unknown_state_grace:
            return Verdict(Outcome.PENDING, f"{message}; waiting up to {unknown_state_grace:.0f} s.")
        return Verdict(Outcome.FAILED, f"{message} (for {waited:.0f} s).")
    if state in PENDING_STATES:
        return Verdict(Outcome.PENDING, progress_line(activity))
    if state is ActivityState.COMPLETED:
        return Verdict(Outcome.SUCCEEDED, progress_line(activity))
    errors = "; ".join(str(e) for e in (activity.get("activity_errors") or [])[:3])
    detail = f": {errors}" if errors else "."
    return Verdict(Outcome.FAILED, f"Activity {activity_id} ended {state.value}{detail}")


def progress_line(activity: Mapping[str, Any]) -> str:
    """One log line: state, percent done and the counters the API reported so far."""
    status = activity.get("status") or {}
    counts = ", ".join(f"{key} {status[key]}" for key in STATUS_COUNTERS if key in status)
    percent = activity.get("percent_done") or 0
    activity_id, state = activity.get("activity_id", "?"), activity.get("state")
    return f"Activity {activity_id} is {state} ({percent}% done; {counts or 'no counts yet'})."


def summarize(activity: Mapping[str, Any]) -> dict[str, Any]:
    """Return the compact, JSON-safe part of an activity worth keeping in XCom and events."""
    status = activity.get("status") or {}
    errors = [str(e) for e in (activity.get("activity_errors") or [])]
    return {
        "activity_id": activity.get("activity_id"),
        "state": activity.get("state"),
        "percent_done": activity.get("percent_done"),
        **{key: status[key] for key in STATUS_COUNTERS if key in status},
        "activity_errors": errors[:MAX_ERRORS_KEPT],
        "activity_errors_total": len(errors),
    }


def _epoch(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class ActivityWatch:
    """
    Follow a set of activities across polls: which are done, and since when one's state is unknown.

    It also plans the next poll (:meth:`seconds_to_next_poll`): from each pending activity's progress
    (``percent_done`` since ``started_at``) when every one reports some, else backing off from the poll
    interval, doubling per poll that brought no estimate.

    :param activity_ids: the activities to wait for, in the order results are reported.
    :param unknown_state_grace: seconds an unknown state is tolerated before the wait fails.
    """

    activity_ids: list[str]
    unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_since: dict[str, float] = field(default_factory=dict)
    #: pending activity -> (``started_at`` as epoch seconds, ``percent_done``), from the last poll
    progress: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: polls in a row after which some pending activity had no progress to estimate from
    polls_without_estimate: int = 0

    @property
    def pending(self) -> list[str]:
        return [a for a in self.activity_ids if a not in self.done]

    @property
    def summaries(self) -> list[dict[str, Any]]:
        """Summaries of the completed activities, in the order of ``activity_ids``."""
        return [self.done[a] for a in self.activity_ids if a in self.done]

    @property
    def timeout_message(self) -> str:
        return f"Timed out waiting for activities {', '.join(self.pending)}."

    def step(self, read: Mapping[str, Mapping[str, Any]] | BaseException, now: float, log: Any) -> Verdict:
        """
        Take one poll's result and log what it saw: the status bodies (by id), or the error reading them.

        An error that outlived the hook's retries and is worth waiting out (5xx, throttling, network) leaves
        the wait pending; any other is raised.
        """
        if isinstance(read, BaseException):
            if not is_transient_error(read):
                raise read
            log.warning("Polling activities failed (%s); trying again next poll.", read)
            return Verdict(Outcome.PENDING, f"Polling activities failed: {read}")
        verdict = self.observe(read, now)
        for line in verdict.lines:
            log.info("%s", line)
        return verdict

    def seconds_to_next_poll(self, now: float, end_time: float, poll_interval: float) -> float | None:
        """
        Seconds to sleep before the next poll, or ``None`` once ``end_time`` passed (the deadline rule).

        When every pending activity reports progress, the wait is the slowest one's estimated time to
        finish (elapsed x (100 - percent) / percent, plus 10%); otherwise ``poll_interval`` doubled per
        earlier poll without an estimate. Never shorter than ``poll_interval``, never longer than
        :data:`MAX_POLL_WAIT` (or ``poll_interval`` if longer) nor than the time left.
        """
        remaining = end_time - now
        if remaining <= 0:
            return None
        estimates = [self._time_to_finish(a, now) for a in self.pending]
        if estimates and all(e is not None for e in estimates):
            wait = ESTIMATE_SLACK * max(e for e in estimates if e is not None)
        else:
            wait = poll_interval * 2 ** max(0, self.polls_without_estimate - 1)
        return min(max(wait, poll_interval), max(MAX_POLL_WAIT, poll_interval), remaining)

    def _time_to_finish(self, activity_id: str, now: float) -> float | None:
        started, percent = self.progress.get(activity_id, (now, 0.0))
        if not 0 < percent < 100 or now <= started:
            return None
        return (now - started) * (100 - percent) / percent

    def observe(self, activities: Mapping[str, Mapping[str, Any]], now: float) -> Verdict:
        """
        Take one poll's status bodies (by id) and decide: still pending, all done, or failed.

        The verdict's lines say what changed: one per activity that completed, failed or reports an
        unknown state, and one for all those still on their way (the least advanced of them).
        """
        lines: list[str] = []
        waiting: list[tuple[float, str]] = []  # (percent_done, line) of the pending in a known state
        for activity_id in self.pending:
            activity = activities[activity_id]
            state = activity.get("state")
            if not isinstance(state, str) or state not in KNOWN_STATES:
                # the API's own updated_at tells how long the state has been there, in every mode
                seen = self.unknown_since.setdefault(activity_id, now)
                self.unknown_since[activity_id] = min(seen, _epoch(activity.get("updated_at")) or seen)
            else:
                self.unknown_since.pop(activity_id, None)
            verdict = classify(
                activity,
                unknown_since=self.unknown_since.get(activity_id),
                now=now,
                unknown_state_grace=self.unknown_state_grace,
            )
            if verdict.outcome is Outcome.PENDING and activity_id not in self.unknown_since:
                waiting.append((_percent(activity), verdict.message))
            else:
                lines.append(verdict.message)
            if verdict.outcome is Outcome.FAILED:
                return Verdict(Outcome.FAILED, verdict.message, tuple(lines))
            if verdict.outcome is Outcome.SUCCEEDED:
                self.done[activity_id] = summarize(activity)
                self.progress.pop(activity_id, None)
            else:
                self._note_progress(activity_id, activity)
        estimated = all(self._time_to_finish(a, now) is not None for a in self.pending)
        self.polls_without_estimate = 0 if estimated else self.polls_without_estimate + 1
        if not self.pending:
            return Verdict(Outcome.SUCCEEDED, f"{len(self.done)} activity(ies) completed.", tuple(lines))
        pending = f"{len(self.pending)} of {len(self.activity_ids)} activity(ies) pending."
        if len(waiting) == 1:
            lines.append(waiting[0][1])
        elif waiting:
            lines.append(f"{len(waiting)} activity(ies) on their way; the least advanced: {min(waiting)[1]}")
        return Verdict(Outcome.PENDING, pending, tuple(lines))

    def _note_progress(self, activity_id: str, activity: Mapping[str, Any]) -> None:
        started = _epoch(activity.get("started_at"))
        if started is None:
            self.progress.pop(activity_id, None)
        else:
            self.progress[activity_id] = (started, _percent(activity))


def _percent(activity: Mapping[str, Any]) -> float:
    try:
        return float(activity.get("percent_done") or 0)
    except (TypeError, ValueError):
        return 0.0


def rejected_count(summary: Mapping[str, Any]) -> int:
    """
    Contacts the API rejected in one import, by the spec's definitions (``ActivityImport.status``).

    ``error_count`` counts non-correctable errors and ``correctable_count`` the correctable ones (an
    invalid email, a birthday or anniversary format error, no minimal contact information): two kinds
    of rejected contact, so the two are added.
    """
    return int(summary.get("error_count") or 0) + int(summary.get("correctable_count") or 0)


def received_count(summary: Mapping[str, Any]) -> int:
    """
    Contacts one import carried, as well as its counters tell.

    ``person_count`` is "the contacts in the import file" and ``items_total_count`` its rows (with the
    header, for a CSV file); which rows ``person_count`` includes is not documented, so the largest
    figure that cannot exceed the request wins (a CSV file's header makes the rate at most one row low).
    """
    return max(
        int(summary.get("person_count") or 0), int(summary.get("items_total_count") or 0), rejected_count(summary)
    )


def evaluate_results(
    summaries: list[dict[str, Any]],
    *,
    max_error_rate: float | None = None,
    fail_on_errors: bool = False,
    sent: int | None = None,
) -> Verdict:
    """
    Judge completed activities by their counters: ``SUCCEEDED`` or ``FAILED``, with the sentence saying why.

    The rejected contacts (:func:`rejected_count`) are divided by the contacts sent: ``sent`` when the
    caller knows it (an import operator), else what the counters tell (:func:`received_count`).
    Contacts that could not be added to a list because they unsubscribed are reported, not failed.
    """
    errors = sum(rejected_count(s) for s in summaries)
    total = sent if sent is not None else sum(received_count(s) for s in summaries)
    unsubscribed = sum(int(s.get("cannot_add_to_list_count") or 0) for s in summaries)
    rate = errors / total if total else 0.0
    sentence = (
        f"{errors} of {total} contact(s) rejected by the API ({rate:.1%}); "
        f"{unsubscribed} not added to lists because they unsubscribed."
    )
    first = next((e for s in summaries for e in s.get("activity_errors", [])), None)
    if first:
        sentence += f" First error: {first}"
    if fail_on_errors and errors:
        return Verdict(Outcome.FAILED, f"fail_on_errors is set and {sentence}")
    if max_error_rate is not None and rate > max_error_rate:
        return Verdict(Outcome.FAILED, f"The error rate is above max_error_rate={max_error_rate:.1%}: {sentence}")
    return Verdict(Outcome.SUCCEEDED, sentence)
