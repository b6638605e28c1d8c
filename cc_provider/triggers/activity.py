"""Trigger that waits, in the triggerer, for Constant Contact bulk activities to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from cc_provider.activity import Outcome, classify, summarize
from cc_provider.hooks.constant_contact import ConstantContactHook


class ConstantContactActivityTrigger(BaseTrigger):
    """
    Poll bulk activities until all completed, one failed, or the deadline passed.

    Yields exactly one event ``{"status": "success" | "error" | "timeout", "message": str,
    "activities": [summary, ...]}``. The serialized form holds ids, the connection id and numbers only:
    the hook fetches its token inside :meth:`run`.

    :param activity_ids: ids of the activities to wait for.
    :param constant_contact_conn_id: Airflow connection id.
    :param poll_interval: seconds between poll cycles; each cycle costs one request per pending activity.
    :param end_time: wall-clock epoch (``time.time()``) after which the trigger gives up.
    """

    def __init__(
        self,
        activity_ids: list[str],
        constant_contact_conn_id: str,
        poll_interval: float,
        end_time: float,
    ) -> None:
        super().__init__()
        self.activity_ids = list(activity_ids)
        self.constant_contact_conn_id = constant_contact_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "activity_ids": self.activity_ids,
                "constant_contact_conn_id": self.constant_contact_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        done: dict[str, dict[str, Any]] = {}
        try:
            while True:
                for activity_id in [a for a in self.activity_ids if a not in done]:
                    activity = await hook.aget_activity(activity_id)
                    verdict = classify(activity)
                    self.log.info("%s", verdict.message)
                    if verdict.outcome is Outcome.FAILED:
                        yield self._event("error", verdict.message, [summarize(activity), *done.values()])
                        return
                    if verdict.outcome is Outcome.SUCCEEDED:
                        done[activity_id] = summarize(activity)
                if len(done) == len(self.activity_ids):
                    summaries = [done[a] for a in self.activity_ids]
                    yield self._event("success", f"{len(done)} activity(ies) completed.", summaries)
                    return
                if time.time() >= self.end_time:
                    pending = [a for a in self.activity_ids if a not in done]
                    yield self._event(
                        "timeout", f"Timed out waiting for activities {', '.join(pending)}.", list(done.values())
                    )
                    return
                await asyncio.sleep(max(0.0, min(self.poll_interval, self.end_time - time.time())))
        except Exception as err:  # any failure becomes the one event, so the task fails with the reason
            yield self._event("error", f"Polling activities failed: {err}", list(done.values()))
        finally:
            await hook.aclose()

    @staticmethod
    def _event(status: str, message: str, activities: list[dict[str, Any]]) -> TriggerEvent:
        return TriggerEvent({"status": status, "message": message, "activities": activities})
