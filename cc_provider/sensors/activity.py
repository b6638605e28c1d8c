"""Sensor that waits for Constant Contact bulk activities, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowSensorTimeout

from cc_provider.activity import Outcome, classify, summarize
from cc_provider.exceptions import ActivityFailedError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.triggers.activity import ConstantContactActivityTrigger


class ConstantContactActivitySensor(BaseSensorOperator):
    """
    Wait until every given bulk activity is ``completed``; fail as soon as one fails.

    ``failed``, ``cancelled``, ``timed_out`` and unknown states fail the task with the activity's
    errors. Returns the activities' summaries (state and counters such as ``error_count``).

    :param activity_ids: one id or a list of ids (e.g. the import operator's ``activity_ids`` XCom). Templated.
    :param constant_contact_conn_id: Airflow connection id.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    """

    template_fields: Sequence[str] = ("activity_ids",)

    def __init__(
        self,
        *,
        activity_ids: list[str] | str,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30)
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.constant_contact_conn_id = constant_contact_conn_id
        self.deferrable = deferrable

    def _ids(self) -> list[str]:
        ids = [self.activity_ids] if isinstance(self.activity_ids, str) else list(self.activity_ids or [])
        if not ids:
            raise ValueError("activity_ids is empty: there is nothing to wait for.")
        return [str(i) for i in ids]

    def poke(self, context: Context) -> PokeReturnValue:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        summaries = []
        done = True
        for activity_id in self._ids():
            activity = hook.get_activity(activity_id)
            verdict = classify(activity)
            self.log.info("%s", verdict.message)
            if verdict.outcome is Outcome.FAILED:
                raise ActivityFailedError(verdict.message)
            done = done and verdict.outcome is Outcome.SUCCEEDED
            summaries.append(summarize(activity))
        return PokeReturnValue(is_done=done, xcom_value=summaries if done else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=ConstantContactActivityTrigger(
                activity_ids=self._ids(),
                constant_contact_conn_id=self.constant_contact_conn_id,
                poll_interval=self.poke_interval,
                end_time=deadline,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Succeed only on an explicit success event; raise for anything else."""
        status = (event or {}).get("status")
        message = (event or {}).get("message", "no event received")
        if status == "success":
            self.log.info("%s", message)
            return list(event["activities"])  # type: ignore[index]
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise ActivityFailedError(message)
