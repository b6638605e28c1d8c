"""
Posting each import request once: until one answer names its activity, with a record across task retries.

:func:`submit_all` is the whole of it for an import operator: it resumes an earlier try's record, takes
the membership baseline before the first post, and posts each request not yet answered (:func:`post_once`).

XComs are cleared when a task is retried, so the record lives in an Airflow Variable named after the
task instance. A retry reads it and skips what was answered, then waits for the recorded activities.
The record is deleted once the task succeeds.

A post whose answer is lost (a reset or a timeout after sending) may or may not have created an
activity, and nothing in an activity says which request or lists it came from (FIDELITY.md). So the
provider never guesses: it posts the request again and follows only an activity whose id came back in
an answer. Imports upsert by email, so a duplicate changes nothing in the account and costs one
request; an adopted stranger would cost contacts. Looking for the lost activity would cost a request
too, and could prove nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from cc_provider.activity import RETENTION_SECONDS
from cc_provider.exceptions import ConstantContactOutcomeUnknownError

#: Re-attach only to activities comfortably inside the API's 10-day status retention.
RESUME_WINDOW_SECONDS = RETENTION_SECONDS - 3600
KEY_PREFIX = "constant_contact_submitted"
#: Posts of one request that may each have lost their answer before the try gives up (its retry posts again).
MAX_UNANSWERED_POSTS = 3


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
    #: posts whose answer was lost and that were posted again (each may have imported a harmless duplicate)
    reposts: int = 0
    #: members of each target list before the first post (when the task waits): the membership baseline
    members_before: dict[str, int] | None = None

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

    def __init__(self, key: str, log: Any, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.log = log
        self.clock = clock
        self._available = True

    @classmethod
    def for_task(cls, context: Any, log: Any, clock: Callable[[], float] = time.time) -> SubmissionLedger:
        ti = context["ti"]
        raw = "__".join(str(getattr(ti, name, "")) for name in ("dag_id", "task_id", "run_id", "map_index"))
        return cls(f"{KEY_PREFIX}__{re.sub(r'[^A-Za-z0-9_.-]', '_', raw)}", log, clock)

    def resume(self, expected_fingerprint: str) -> SubmissionRecord:
        """Return the earlier try's record if it is for the same input and still followable, else a new one."""
        fresh = SubmissionRecord(expected_fingerprint, started_at=self.clock())
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
        if self.clock() - record.started_at > RESUME_WINDOW_SECONDS:
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


def post_once(
    post: Callable[[], dict[str, Any]],
    *,
    ledger: SubmissionLedger,
    record: SubmissionRecord,
    index: int,
    contacts: int,
    delay: Callable[[int], float],
    log: Any,
    sleep: Callable[[float], None] = time.sleep,
    max_unanswered: int = MAX_UNANSWERED_POSTS,
) -> dict[str, Any]:
    """
    Post request ``index`` until an answer names its activity; return that activity.

    The request is recorded as pending before each post. A post that lost its answer is posted again
    (after ``delay(n)`` seconds), up to ``max_unanswered`` times in this try; past that the error is
    raised with the pending mark saved, and the task's retry posts it again. A post refused with an
    answer created nothing: the mark is cleared and the error raised.
    """
    if record.pending and record.pending.get("index") == index:
        log.warning(
            "Request %d: an earlier try's post lost its answer and may have been imported; posting it again "
            "(an import upserts by email, so a duplicate changes nothing; only an answered activity is followed).",
            index + 1,
        )
        record.reposts += 1
    unanswered = 0
    while True:
        record.pending = {"index": index, "posted_at": ledger.clock(), "contacts": contacts}
        ledger.save(record)
        try:
            return post()
        except ConstantContactOutcomeUnknownError as err:
            unanswered += 1
            if unanswered > max_unanswered:
                raise  # `pending` stays saved: the next try posts the request again
            record.reposts += 1
            log.warning("%s Posting request %d again (%d of %d).", err, index + 1, unanswered, max_unanswered)
            sleep(delay(unanswered))
        except Exception:
            record.pending = None  # refused with an answer: nothing was accepted
            ledger.save(record)
            raise


class StagedRequest(Protocol):
    """What posting needs of a staged import request."""

    contact_count: int
    size_bytes: int


R = TypeVar("R", bound=StagedRequest)


def submit_all(
    requests: Sequence[R],
    post: Callable[[R], dict[str, Any]],
    *,
    ledger: SubmissionLedger,
    fingerprint: str,
    delay: Callable[[int], float],
    log: Any,
    count_members: Callable[[], dict[str, int]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[SubmissionRecord, int]:
    """
    Post every request an earlier try did not get an answer for; return the record and the requests resumed.

    ``count_members`` (when the import checks the lists afterwards) gives the lists' membership before the
    first post: the baseline is kept in the record, so a retry compares with the same figures.
    """
    record = ledger.resume(fingerprint)
    resumed = record.requests_sent
    if count_members is not None and record.members_before is None:
        record.members_before = count_members()
    for index, request in enumerate(requests):
        if index < resumed:
            continue  # answered in an earlier try: its activity id is in the record
        activity = post_once(
            lambda request=request: post(request),  # type: ignore[misc]
            ledger=ledger,
            record=record,
            index=index,
            contacts=request.contact_count,
            delay=delay,
            log=log,
            sleep=sleep,
        )
        record.activity_ids.append(activity["activity_id"])
        record.rows_sent += request.contact_count
        record.pending = None
        ledger.save(record)
        log.info(
            "Import request %d of %d: %d contacts (%d bytes) -> activity %s.",
            index + 1,
            len(requests),
            request.contact_count,
            request.size_bytes,
            activity["activity_id"],
        )
    return record, resumed
