"""Bulk-activity states and the one classification shared by the sensor (every mode) and the trigger."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


class Outcome(str, enum.Enum):
    """What a waiter should do about an activity."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    """The outcome for one activity, with a sentence for logs and errors."""

    activity_id: str
    outcome: Outcome
    message: str


def classify(activity: Mapping[str, Any]) -> Verdict:
    """
    Classify an activity status body.

    Only ``completed`` succeeds; ``initialized`` and ``processing`` are pending; ``failed``,
    ``cancelled``, ``timed_out`` and any state this code does not know fail.
    """
    activity_id = str(activity.get("activity_id", "?"))
    raw_state = activity.get("state")
    try:
        state = ActivityState(raw_state)
    except ValueError:
        return Verdict(activity_id, Outcome.FAILED, f"Activity {activity_id} reports an unknown state {raw_state!r}.")
    if state in PENDING_STATES:
        percent = activity.get("percent_done", 0)
        return Verdict(activity_id, Outcome.PENDING, f"Activity {activity_id} is {state.value} ({percent}% done).")
    if state is ActivityState.COMPLETED:
        return Verdict(activity_id, Outcome.SUCCEEDED, f"Activity {activity_id} completed.")
    errors = "; ".join(str(e) for e in (activity.get("activity_errors") or [])[:3])
    detail = f": {errors}" if errors else "."
    return Verdict(activity_id, Outcome.FAILED, f"Activity {activity_id} ended {state.value}{detail}")


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
