"""What every bulk-import operator does: submit requests once, record them, and optionally wait."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, Context, conf

from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE
from cc_provider.contacts.files import RejectsWriter
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.activity_wait import ActivityWaitMixin
from cc_provider.operators.submissions import SubmissionLedger, fingerprint

ACTIVITY_IDS_KEY = "activity_ids"
SUBMISSION_KEY = "submission_summary"
DEFAULT_WAIT_TIMEOUT = 24 * 3600.0


@dataclass(frozen=True)
class ImportRequest:
    """One request's payload (bytes of a JSON body or a CSV file path) and how many contacts it holds."""

    payload: Any
    contact_count: int
    size_bytes: int


class ConstantContactImportBaseOperator(ActivityWaitMixin, BaseOperator):
    """
    Submit an import split into requests, each recorded before the next, then optionally wait.

    A retry of the task re-attaches to the requests an earlier try posted (see
    :mod:`cc_provider.operators.submissions`) instead of posting them again. With
    ``wait_for_completion`` the activity ids are pushed to XCom before the wait, which runs in the
    triggerer when ``deferrable`` is true.

    :param list_ids: ids of the lists to add every contact to (1 to 50). Templated.
    :param column_map: source column -> V3 import name, for columns the built-in aliases miss.
    :param rejects_path: where to write locally rejected rows as CSV. Templated.
    :param wait_for_completion: wait until every import activity completed.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between activity polls while waiting.
    :param wait_timeout: seconds to wait at most (a wall-clock deadline that holds while deferred).
    :param unknown_state_grace: seconds an unknown activity state is tolerated before failing.
    :param max_error_rate: fail if more than this share of contacts is rejected by the API (0.0 to 1.0).
    :param fail_on_errors: fail if the API rejects any contact.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("list_ids", "rejects_path")

    def __init__(
        self,
        *,
        list_ids: list[str] | str,
        column_map: dict[str, str] | None = None,
        rejects_path: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        unknown_state_grace: float = DEFAULT_UNKNOWN_STATE_GRACE,
        max_error_rate: float | None = None,
        fail_on_errors: bool = False,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_error_rate is not None and not 0.0 <= max_error_rate <= 1.0:
            raise ValueError(f"max_error_rate must be between 0.0 and 1.0; got {max_error_rate}.")
        self.list_ids = list_ids
        self.column_map = column_map
        self.rejects_path = rejects_path
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.unknown_state_grace = unknown_state_grace
        self.max_error_rate = max_error_rate
        self.fail_on_errors = fail_on_errors
        self.constant_contact_conn_id = constant_contact_conn_id

    # -- what a subclass provides -------------------------------------------------------------------

    @abstractmethod
    def source_identity(self) -> Any:
        """Something that changes when the input changes (path, size and mtime; a digest of records)."""

    @abstractmethod
    def iter_requests(
        self, list_ids: list[str], counts: dict[str, int], rejects: RejectsWriter | None
    ) -> Iterator[ImportRequest]:
        """Read, format and split the input; update ``counts`` (``rows_read``, ``rows_rejected``)."""

    @abstractmethod
    def post(self, hook: ConstantContactHook, request: ImportRequest, list_ids: list[str]) -> dict[str, Any]:
        """Send one request; return the activity the API created."""

    # -- the common life cycle ----------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        list_ids = [self.list_ids] if isinstance(self.list_ids, str) else [str(i) for i in self.list_ids]
        ledger = SubmissionLedger.for_task(context, self.log)
        record = ledger.resume(fingerprint(self.source_identity(), list_ids, self.column_map, self.split_options()))
        already_posted = record.requests_sent
        hook = ConstantContactHook(self.constant_contact_conn_id)
        counts = {"rows_read": 0, "rows_rejected": 0}
        rejects = RejectsWriter(self.rejects_path) if self.rejects_path else None
        try:
            for index, request in enumerate(self.iter_requests(list_ids, counts, rejects)):
                if index < already_posted:
                    continue  # posted by an earlier try: its activity id is in the record
                activity = self.post(hook, request, list_ids)
                record.activity_ids.append(activity["activity_id"])
                record.rows_sent += request.contact_count
                ledger.save(record)
                self.log.info(
                    "Import request %d: %d contacts (%d bytes) -> activity %s.",
                    index + 1,
                    request.contact_count,
                    request.size_bytes,
                    activity["activity_id"],
                )
        finally:
            if rejects:
                rejects.close()
        summary = {
            **counts,
            "rows_sent": record.rows_sent,
            "requests": record.requests_sent,
            "requests_resumed": already_posted,
            ACTIVITY_IDS_KEY: record.activity_ids,
            "list_ids": list_ids,
            "rejects_path": self.rejects_path,
        }
        self.log.info(
            "Read %d rows: %d sent in %d request(s), %d rejected locally.",
            counts["rows_read"],
            record.rows_sent,
            record.requests_sent,
            counts["rows_rejected"],
        )
        context["ti"].xcom_push(key=ACTIVITY_IDS_KEY, value=record.activity_ids)
        if not self.wait_for_completion or not record.activity_ids:
            ledger.clear()
            return summary
        end_time = time.time() + self.wait_timeout
        if self.deferrable:
            # Kept in XCom (not cleared on resumption from deferral): `dag.test()` drops the defer kwargs.
            context["ti"].xcom_push(key=SUBMISSION_KEY, value=summary)
            self.defer_wait(record.activity_ids, end_time, "execute_complete")
        return self._finish(context, summary, self.wait_in_worker(record.activity_ids, end_time))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: succeed only on a success event whose counters pass."""
        activities = self.complete_event(event)
        summary = context["ti"].xcom_pull(task_ids=context["ti"].task_id, key=SUBMISSION_KEY) or {}
        return self._finish(context, summary, activities)

    def _finish(self, context: Context, summary: dict[str, Any], activities: list[dict[str, Any]]) -> dict[str, Any]:
        SubmissionLedger.for_task(context, self.log).clear()
        rejected_by_api = sum(int(a.get("error_count") or 0) for a in activities)
        return {**summary, "rows_rejected_by_api": rejected_by_api, "activities": activities}

    def split_options(self) -> dict[str, Any]:
        """Options that change how the input is split (part of the resume fingerprint)."""
        return {}
