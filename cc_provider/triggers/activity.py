"""Trigger that waits, in the triggerer, for Constant Contact bulk activities to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, ActivityWatch, Outcome
from cc_provider.hooks.constant_contact import ConstantContactHook


class ConstantContactActivityTrigger(BaseTrigger):
    """
    Poll bulk activities until all completed, one failed, or the deadline passed.

    Yields exactly one event ``{"status": "success" | "error" | "timeout", "message": str,
    "activities": [summary, ...]}``, plus ``error_type`` (the exception's class name) when an error ended
    the wait. The serialized form holds ids, the connection id and numbers only: the hook fetches its
    token inside :meth:`run`.

    Request budget: each poll cycle reads the pending activities with one ``GET /activities/{id}``
    each when there are at most two, else with one ``GET /activities?limit=500`` page (up to 500
    activities a request). Cycles are planned by :meth:`ActivityWatch.seconds_to_next_poll`: at least
    ``poll_interval`` apart, then when the slowest activity's progress says it should finish, or backing
    off while there is no progress to go by (at most 10 minutes apart), against the API key's 10,000
    requests a day.
    Server errors, throttling and network failures are retried by the hook with back-off and, past
    that, waited out until the next cycle; they never end the wait by themselves.

    :param activity_ids: ids of the activities to wait for.
    :param constant_contact_conn_id: Airflow connection id.
    :param poll_interval: the shortest time between poll cycles, in seconds.
    :param end_time: wall-clock epoch (``time.time()``) after which the trigger gives up.
    :param unknown_state_grace: seconds an unknown activity state is tolerated before failing.
    :param first_poll_at: wall-clock epoch of the first poll (the task that deferred has just looked:
        the trigger waits a poll interval instead of asking again at once); ``None``: poll at once.
    """

    def __init__(
        self,
        activity_ids: list[str],
        constant_contact_conn_id: str,
        poll_interval: float,
        end_time: float,
        unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE,
        first_poll_at: float | None = None,
    ) -> None:
        super().__init__()
        self.activity_ids = list(activity_ids)
        self.constant_contact_conn_id = constant_contact_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.unknown_state_grace = unknown_state_grace
        self.first_poll_at = first_poll_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "activity_ids": self.activity_ids,
                "constant_contact_conn_id": self.constant_contact_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "unknown_state_grace": self.unknown_state_grace,
                "first_poll_at": self.first_poll_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        watch = ActivityWatch(self.activity_ids, self.unknown_state_grace)
        delay = max(0.0, min((self.first_poll_at or 0.0), self.end_time) - time.time())
        try:
            while True:
                await asyncio.sleep(delay)
                try:
                    read: Any = await hook.aget_activities(watch.pending)
                except Exception as err:
                    read = err
                verdict = watch.step(read, time.time(), self.log)
                if verdict.outcome is Outcome.FAILED:
                    yield self._event("error", verdict.message, watch.summaries)
                    return
                if verdict.outcome is Outcome.SUCCEEDED:
                    yield self._event("success", verdict.message, watch.summaries)
                    return
                next_delay = watch.seconds_to_next_poll(time.time(), self.end_time, self.poll_interval)
                if next_delay is None:
                    yield self._event("timeout", watch.timeout_message, watch.summaries)
                    return
                delay = next_delay
        except Exception as err:  # any other failure becomes the one event, so the task fails with the reason
            message = f"Waiting for activities failed: {err}"
            yield self._event("error", message, watch.summaries, error_type=type(err).__name__)
        finally:
            await hook.aclose()

    @staticmethod
    def _event(
        status: str, message: str, activities: list[dict[str, Any]], error_type: str | None = None
    ) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "message": message, "activities": activities}
        if error_type:
            payload["error_type"] = error_type  # the task raises that provider error again (see complete_event)
        return TriggerEvent(payload)
