"""Waiting for bulk activities, shared by the activity sensor and the import operators."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowSensorTimeout

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, ActivityWatch, Outcome, Step, evaluate_results
from cc_provider.exceptions import ActivityFailedError, ActivityNotFoundError, ConstantContactAuthError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.hooks.retry import is_transient_error
from cc_provider.triggers.activity import ConstantContactActivityTrigger

#: Extra time the triggerer grants beyond the trigger's own deadline before Airflow cancels it.
DEFERRAL_MARGIN_SECONDS = 300
#: Errors that end a trigger's wait and are raised again, by type, when the task resumes (others: ActivityFailedError).
RERAISED_ERRORS: dict[str, type[ActivityFailedError | ConstantContactAuthError]] = {
    cls.__name__: cls for cls in (ActivityNotFoundError, ConstantContactAuthError)
}


def own_xcom(context: Any, key: str) -> Any:
    """Read back an XCom this task instance pushed before deferring (its own map index, if mapped)."""
    ti = context["ti"]
    return ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=getattr(ti, "map_index", -1))


class ActivityWaitMixin:
    """
    Poll, defer and judge bulk activities the same way in every mode.

    The host class sets ``constant_contact_conn_id``, ``poll_interval``, ``unknown_state_grace``,
    ``max_error_rate`` and ``fail_on_errors``, and is an Airflow operator (``log``, ``defer``).
    """

    constant_contact_conn_id: str
    poll_interval: float
    #: operators that do not expose these options wait with the defaults
    unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE
    max_error_rate: float | None = None
    fail_on_errors: bool = False

    def poll_once(self, hook: ConstantContactHook, watch: ActivityWatch) -> Step | None:
        """Read the pending activities once; ``None`` if a transient error outlived the hook's retries."""
        try:
            step = watch.observe(hook.get_activities(watch.pending), now=time.time())
        except Exception as err:
            if not is_transient_error(err):
                raise
            self.log.warning("Polling activities failed (%s); trying again next poll.", err)  # type: ignore[attr-defined]
            return None
        for line in step.lines:
            self.log.info("%s", line)  # type: ignore[attr-defined]
        if step.outcome is Outcome.FAILED:
            raise ActivityFailedError(step.message)
        return step

    def wait_in_worker(self, activity_ids: list[str], end_time: float, sent: int | None = None) -> list[dict[str, Any]]:
        """Poll in this process until every activity completed; raise on failure or at ``end_time``."""
        hook = ConstantContactHook(self.constant_contact_conn_id)
        watch = ActivityWatch(activity_ids, self.unknown_state_grace)
        while True:
            step = self.poll_once(hook, watch)
            if step is not None and step.outcome is Outcome.SUCCEEDED:
                return self.judge(watch.summaries, sent)
            remaining = end_time - time.time()
            if remaining <= 0:
                raise AirflowSensorTimeout(f"Timed out waiting for activities {', '.join(watch.pending)}.")
            time.sleep(min(self.poll_interval, remaining))

    def defer_wait(
        self, activity_ids: list[str], end_time: float, method_name: str, kwargs: dict[str, Any] | None = None
    ) -> None:
        """Hand the wait to the triggerer; ``method_name`` resumes with the trigger's event."""
        self.defer(  # type: ignore[attr-defined]
            trigger=ConstantContactActivityTrigger(
                activity_ids=activity_ids,
                constant_contact_conn_id=self.constant_contact_conn_id,
                poll_interval=self.poll_interval,
                end_time=end_time,
                unknown_state_grace=self.unknown_state_grace,
            ),
            method_name=method_name,
            kwargs=kwargs,
            timeout=timedelta(seconds=max(0.0, end_time - time.time()) + DEFERRAL_MARGIN_SECONDS),
        )

    def complete_event(self, event: dict[str, Any] | None, sent: int | None = None) -> list[dict[str, Any]]:
        """Return the summaries of a success event; raise for any other event."""
        status = (event or {}).get("status")
        message = (event or {}).get("message", "no event received from the trigger")
        if status == "success" and event is not None:
            self.log.info("%s", message)  # type: ignore[attr-defined]
            return self.judge(list(event.get("activities") or []), sent)
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise RERAISED_ERRORS.get(str((event or {}).get("error_type")), ActivityFailedError)(message)

    def judge(self, summaries: list[dict[str, Any]], sent: int | None = None) -> list[dict[str, Any]]:
        """Apply ``max_error_rate`` / ``fail_on_errors`` to completed activities (``sent``: contacts sent)."""
        passed, sentence = evaluate_results(
            summaries, max_error_rate=self.max_error_rate, fail_on_errors=self.fail_on_errors, sent=sent
        )
        if not passed:
            raise ActivityFailedError(sentence)
        self.log.info("%s", sentence)  # type: ignore[attr-defined]
        return summaries
