"""Sensor that waits for Constant Contact bulk activities, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, ActivityWatch, Outcome
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.waiting import ActivityWaiter


class ConstantContactActivitySensor(ActivityWaiter, BaseSensorOperator):
    """
    Wait until every given bulk activity is ``completed``; fail as soon as one fails.

    Poke, reschedule and deferrable modes decide through the same classification:
    ``failed``, ``cancelled`` and ``timed_out`` fail at once with the activity's errors; a state this
    code does not know fails after ``unknown_state_grace`` seconds; a 404 (an id past the 10-day
    retention) fails with that explanation; server errors, throttling and network failures are
    retried and then waited out. ``timeout`` is a wall-clock deadline that holds while deferred.
    Returns the activities' summaries (state, counters such as ``error_count``, ``activity_errors``).

    :param activity_ids: one id or a list of ids (e.g. the import operator's ``activity_ids`` XCom). Templated.
    :param constant_contact_conn_id: Airflow connection id.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    :param unknown_state_grace: seconds an unknown activity state is tolerated before failing.
    :param max_error_rate: fail if more than this share of contacts is rejected by the API (0.0 to 1.0).
    :param fail_on_errors: fail if the API rejects any contact.
    """

    template_fields: Sequence[str] = ("activity_ids",)

    def __init__(
        self,
        *,
        activity_ids: list[str] | str,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE,
        max_error_rate: float | None = None,
        fail_on_errors: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.constant_contact_conn_id = constant_contact_conn_id
        self.deferrable = deferrable
        self.unknown_state_grace = unknown_state_grace
        self.max_error_rate = max_error_rate
        self.fail_on_errors = fail_on_errors
        self._watch: ActivityWatch | None = None

    @property
    def poll_interval(self) -> float:  # type: ignore[override]
        """The sensor polls at its ``poke_interval``."""
        return float(self.poke_interval)

    def _ids(self) -> list[str]:
        ids = [self.activity_ids] if isinstance(self.activity_ids, str) else list(self.activity_ids or [])
        if not ids:
            raise ValueError("activity_ids is empty: there is nothing to wait for.")
        return [str(i) for i in ids]

    def poke(self, context: Context) -> PokeReturnValue:
        if self._watch is None:  # kept across pokes in poke mode; rebuilt per poke in reschedule mode
            self._watch = ActivityWatch(self._ids(), self.unknown_state_grace)
        verdict = self.poll(ConstantContactHook(self.constant_contact_conn_id), self._watch)
        if verdict.outcome is not Outcome.SUCCEEDED:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self.judge(self._watch.summaries))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        return self.wait(context, self._ids(), self.clock() + self.timeout)  # looks once, then defers

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Succeed only on an explicit success event whose counters pass; raise for anything else."""
        return self.complete_event(context, event)
