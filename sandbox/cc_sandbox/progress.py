"""How activities advance with the clock, and how faults and admin calls bend their course.

An activity stays ``initialized`` until ``start_at``, then processes ``rows_per_second`` items (each
applied to the account as it is processed) and ends ``completed``. Progress is computed lazily whenever
a request touches the state. Each activity kind registers how to apply one item and how to finish.

An activity *fate* (from ``POST /__sandbox__/activity_faults``) stops it at ``fate_at_percent`` of its
items and sends it to that state instead: ``failed``, ``cancelled``, ``timed_out`` (terminal),
``processing`` or ``initialized`` (stuck there for good) or any other word (an unknown state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cc_sandbox.models import TERMINAL_STATES, Activity
from cc_sandbox.store import SandboxState

#: ``activity_errors`` added when an activity is sent to these states without messages of its own.
DEFAULT_FATE_ERRORS = {
    "failed": "The activity failed. Resubmit it or contact Constant Contact support.",
    "timed_out": "The activity timed out before it finished processing.",
}


@dataclass(frozen=True)
class Handler:
    """What processing means for one activity kind."""

    apply: Callable[[SandboxState, Activity, int], None]  # process item number ``index``
    finish: Callable[[SandboxState, Activity], None] | None = None  # once every item is processed


HANDLERS: dict[str, Handler] = {}


def register(
    kind: str,
    apply: Callable[[SandboxState, Activity, int], None],
    finish: Callable[[SandboxState, Activity], None] | None = None,
) -> None:
    """Declare how activities of ``kind`` process their items."""
    HANDLERS[kind] = Handler(apply, finish)


def advance_activities(state: SandboxState) -> None:
    """Bring every unfinished activity up to date with the clock."""
    with state.lock:
        now = state.clock()
        for activity in state.activities.values():
            if activity.state not in TERMINAL_STATES and not activity.frozen:
                advance(state, activity, now)


def advance(state: SandboxState, activity: Activity, now: float) -> None:
    """Move one activity forward to ``now``: start it, process due items, complete it (or meet its fate)."""
    if now < activity.start_at:
        return
    if activity.fate == "initialized":
        activity.frozen = True
        return
    if activity.state == "initialized":
        activity.state = "processing"
        activity.started_at = activity.updated_at = activity.start_at
    stop = activity.total if activity.fate is None else activity.total * activity.fate_at_percent // 100
    due = min(stop, int((now - activity.start_at) * activity.rows_per_second))
    _process(state, activity, due, now)
    if activity.fate is not None:
        if activity.processed >= stop:
            set_state(state, activity, activity.fate, activity.fate_errors, now)
        return
    if activity.processed >= activity.total:
        _complete(state, activity, activity.start_at + activity.total / activity.rows_per_second)


def set_state(state: SandboxState, activity: Activity, new_state: str, errors: list[str], now: float) -> None:
    """Put an activity in ``new_state`` for good (``completed`` first processes what is left)."""
    if new_state == "completed":  # with errors: "completed" that still reports problems
        _process(state, activity, activity.total, now)
        _complete(state, activity, now)
        activity.errors.extend(errors or [])
        activity.frozen = True
        return
    if new_state != "initialized" and activity.state == "initialized":
        activity.started_at = now
    activity.state = new_state
    activity.updated_at = now
    activity.errors.extend(errors or ([DEFAULT_FATE_ERRORS[new_state]] if new_state in DEFAULT_FATE_ERRORS else []))
    if new_state in TERMINAL_STATES:
        activity.completed_at = now
    activity.frozen = True


def _process(state: SandboxState, activity: Activity, due: int, now: float) -> None:
    if due <= activity.processed:
        return
    handler = HANDLERS[activity.kind]
    for index in range(activity.processed, due):
        handler.apply(state, activity, index)
    activity.processed = due
    activity.updated_at = now


def _complete(state: SandboxState, activity: Activity, at: float) -> None:
    handler = HANDLERS[activity.kind]
    if handler.finish is not None:
        handler.finish(state, activity)
    activity.state = "completed"
    activity.completed_at = activity.updated_at = max(at, activity.started_at or at)
