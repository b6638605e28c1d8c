"""
Waiting for bulk activities: one component for the activity sensor and every operator that waits.

A host (an operator or the sensor) calls :meth:`ActivityWaiter.wait` after it started its activities:
it looks at them once, then either polls in the worker or, when ``deferrable``, hands the activities
still pending to :class:`~cc_provider.triggers.activity.ConstantContactActivityTrigger` with the state
it needs to finish (kept in one XCom, since ``dag.test()`` drops defer kwargs). ``execute_complete``
takes the state back with :meth:`ActivityWaiter.resume_state` and the activities with
:meth:`ActivityWaiter.complete_event`. The worker and the trigger poll through the same step and the
same deadline rule (:class:`~cc_provider.activity.ActivityWatch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowSensorTimeout

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, ActivityWatch, Outcome, Verdict, evaluate_results
from cc_provider.exceptions import ActivityFailedError, ActivityNotFoundError, ConstantContactAuthError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.triggers.activity import ConstantContactActivityTrigger

#: Extra time the triggerer grants beyond the trigger's own deadline before Airflow cancels it.
DEFERRAL_MARGIN_SECONDS = 300
#: Errors that end a trigger's wait and are raised again, by type, when the task resumes (others: ActivityFailedError).
RERAISED_ERRORS: dict[str, type[ActivityFailedError | ConstantContactAuthError]] = {
    cls.__name__: cls for cls in (ActivityNotFoundError, ConstantContactAuthError)
}
#: The XCom key of what a deferred task needs to finish (its host's state, the activities already done).
RESUME_KEY = "resume_state"


class ActivityWaiter:
    """
    Poll, defer and judge bulk activities the same way in every mode.

    The host class sets ``constant_contact_conn_id``, ``poll_interval`` and ``deferrable``, and is an
    Airflow operator (``log``, ``defer``). ``clock`` and ``sleep`` may be replaced (tests give fakes).
    """

    constant_contact_conn_id: str
    poll_interval: float
    deferrable: bool = False
    #: operators that do not expose these options wait with the defaults
    unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE
    max_error_rate: float | None = None
    fail_on_errors: bool = False
    clock: Callable[[], float] = staticmethod(time.time)
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def wait(
        self,
        context: Any,
        activity_ids: list[str],
        end_time: float,
        *,
        state: Any = None,
        sent: int | None = None,
    ) -> list[dict[str, Any]]:
        """
        Wait until every activity completed and judge their counters; return their summaries.

        Looks once first; while some are pending it polls here, or (``deferrable``) defers with ``state``
        to ``execute_complete``. Raises on a failed activity, at ``end_time``, or when the counters fail.
        """
        hook = ConstantContactHook(self.constant_contact_conn_id)
        watch = ActivityWatch(activity_ids, self.unknown_state_grace)
        verdict = self.poll(hook, watch)
        while verdict.outcome is Outcome.PENDING:
            delay = watch.seconds_to_next_poll(self.clock(), end_time, self.poll_interval)
            if delay is None:
                raise AirflowSensorTimeout(watch.timeout_message)
            if self.deferrable:
                self._defer(context, watch, end_time, state, first_poll_at=self.clock() + delay)
            self.sleep(delay)
            verdict = self.poll(hook, watch)
        return self.judge(watch.summaries, sent)

    def poll(self, hook: ConstantContactHook, watch: ActivityWatch) -> Verdict:
        """Read the pending activities once; raise :class:`ActivityFailedError` if one failed."""
        try:
            read: Any = hook.get_activities(watch.pending)
        except Exception as err:
            read = err
        verdict = watch.step(read, self.clock(), self.log)  # type: ignore[attr-defined]
        if verdict.outcome is Outcome.FAILED:
            raise ActivityFailedError(verdict.message)
        return verdict

    def _defer(self, context: Any, watch: ActivityWatch, end_time: float, state: Any, *, first_poll_at: float) -> None:
        """Keep ``state`` and the done activities in XCom, and hand the pending ones to the triggerer."""
        kept = {"state": state, "activity_ids": watch.activity_ids, "done": watch.done}
        context["ti"].xcom_push(key=RESUME_KEY, value=kept)
        self.defer(  # type: ignore[attr-defined]
            trigger=ConstantContactActivityTrigger(
                activity_ids=watch.pending,
                constant_contact_conn_id=self.constant_contact_conn_id,
                poll_interval=self.poll_interval,
                end_time=end_time,
                unknown_state_grace=self.unknown_state_grace,
                first_poll_at=first_poll_at,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(0.0, end_time - self.clock()) + DEFERRAL_MARGIN_SECONDS),
        )

    @staticmethod
    def _resumed(context: Any) -> dict[str, Any]:
        """What this task instance kept before deferring (its own map index, if mapped)."""
        ti = context["ti"]
        kept = ti.xcom_pull(task_ids=ti.task_id, key=RESUME_KEY, map_indexes=getattr(ti, "map_index", -1))
        return kept if isinstance(kept, dict) else {}

    def resume_state(self, context: Any) -> Any:
        """The ``state`` given to :meth:`wait` before the task deferred (``None`` if there is none)."""
        return self._resumed(context).get("state")

    def complete_event(
        self, context: Any, event: dict[str, Any] | None, sent: int | None = None
    ) -> list[dict[str, Any]]:
        """Return the summaries of every activity after a success event; raise for any other event."""
        status = (event or {}).get("status")
        message = (event or {}).get("message", "no event received from the trigger")
        if status == "success" and event is not None:
            self.log.info("%s", message)  # type: ignore[attr-defined]
            kept = self._resumed(context)
            done = dict(kept.get("done") or {})
            done.update({str(a.get("activity_id")): a for a in event.get("activities") or []})
            order = [i for i in kept.get("activity_ids") or [] if i in done] or list(done)
            return self.judge([done[i] for i in order], sent)
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise RERAISED_ERRORS.get(str((event or {}).get("error_type")), ActivityFailedError)(message)

    def judge(self, summaries: list[dict[str, Any]], sent: int | None = None) -> list[dict[str, Any]]:
        """Apply ``max_error_rate`` / ``fail_on_errors`` to completed activities (``sent``: contacts sent)."""
        verdict = evaluate_results(
            summaries, max_error_rate=self.max_error_rate, fail_on_errors=self.fail_on_errors, sent=sent
        )
        if verdict.outcome is not Outcome.SUCCEEDED:
            raise ActivityFailedError(verdict.message)
        self.log.info("%s", verdict.message)  # type: ignore[attr-defined]
        return summaries
