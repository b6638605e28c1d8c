"""
A record, kept across task retries, of the import requests a task instance already posted.

XComs are cleared when a task is retried, so the record lives in an Airflow Variable named after the
task instance. A retry reads it and skips what was posted, then waits for the recorded activities
instead of importing the same contacts twice. The record is deleted once the task succeeds.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cc_provider.activity import RETENTION_SECONDS

#: Re-attach only to activities comfortably inside the API's 10-day status retention.
RESUME_WINDOW_SECONDS = RETENTION_SECONDS - 3600
KEY_PREFIX = "constant_contact_submitted"


@dataclass
class SubmissionRecord:
    """What one task instance posted: in order, one activity per request."""

    fingerprint: str
    activity_ids: list[str] = field(default_factory=list)
    rows_sent: int = 0
    started_at: float = field(default_factory=time.time)
    #: the request being posted when the record was saved: ``{index, posted_at, contacts}``; set until
    #: its answer arrives, so a retry knows an earlier POST may have been accepted without an answer
    pending: dict[str, Any] | None = None

    @property
    def requests_sent(self) -> int:
        return len(self.activity_ids)


def fingerprint(*parts: Any) -> str:
    """A digest of the import's inputs and options, to tell whether a retry imports the same thing."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class SubmissionLedger:
    """
    Load, update and clear the :class:`SubmissionRecord` of one task instance.

    Outside a running task (no Task SDK to reach Variables) it keeps nothing and says so once.
    """

    def __init__(self, key: str, log: Any) -> None:
        self.key = key
        self.log = log
        self._available = True

    @classmethod
    def for_task(cls, context: Any, log: Any) -> SubmissionLedger:
        ti = context["ti"]
        raw = "__".join(str(getattr(ti, name, "")) for name in ("dag_id", "task_id", "run_id", "map_index"))
        return cls(f"{KEY_PREFIX}__{re.sub(r'[^A-Za-z0-9_.-]', '_', raw)}", log)

    def resume(self, expected_fingerprint: str) -> SubmissionRecord:
        """Return the earlier try's record if it is for the same input and still followable, else a new one."""
        fresh = SubmissionRecord(expected_fingerprint)
        stored = self._call("get", self.key, default=None, deserialize_json=True)
        if not stored:
            return fresh
        try:
            record = SubmissionRecord(**stored)
        except TypeError:  # written by another version of the provider
            self.log.warning("An earlier try's record has an unknown shape; importing afresh.")
            return fresh
        if record.fingerprint != expected_fingerprint:
            self.log.warning(
                "An earlier try posted activities %s for different input or options; importing afresh.",
                record.activity_ids,
            )
            return fresh
        if time.time() - record.started_at > RESUME_WINDOW_SECONDS:
            self.log.warning("An earlier try's activities are past the 10-day retention; importing afresh.")
            return fresh
        self.log.info(
            "Resuming: an earlier try already posted %d request(s) (%d contacts): activities %s.",
            record.requests_sent,
            record.rows_sent,
            record.activity_ids,
        )
        return record

    def save(self, record: SubmissionRecord) -> None:
        self._call("set", self.key, asdict(record), serialize_json=True)

    def clear(self) -> None:
        self._call("delete", self.key)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self._available:
            return None
        from airflow.sdk import Variable

        try:
            return getattr(Variable, method)(*args, **kwargs)
        except ImportError:  # not inside a task: the Task SDK has no supervisor to talk to
            self._available = False
            self.log.warning("Not running inside an Airflow task: a retry could not resume this import.")
            return None
