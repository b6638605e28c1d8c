"""
What every bulk-import operator does.

1. Read the source through :class:`cc_provider.contacts.PreparedImport` (mapping, the API's checks,
   deduplication, rejects written with a reason) and stage the requests in a temporary directory.
2. Check before anything is sent: the reject rate, and the custom fields the ``cf:`` columns name.
3. Submit each request until an answer names its activity, recording it so that a retry never posts
   an answered request again (:mod:`cc_provider.operators.submissions`).
4. Optionally wait for the activities, then account for every row, and check the ground truth: the
   lists' membership (:mod:`cc_provider.operators.landing`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseOperator, Context, conf

from cc_provider import storage
from cc_provider.activity import DEFAULT_UNKNOWN_STATE_GRACE, rejected_count
from cc_provider.contacts import PreparedImport, UnknownCustomFieldsError, missing_custom_fields
from cc_provider.contacts.dedupe import DedupeMode
from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.links import ConstantContactListLink
from cc_provider.operators.landing import account_rows, check_membership, count_members, write_api_rejects
from cc_provider.operators.submissions import SubmissionLedger, fingerprint, submit_all
from cc_provider.storage import Location
from cc_provider.waiting import ActivityWaiter

ACTIVITY_IDS_KEY = "activity_ids"
DEFAULT_WAIT_TIMEOUT = 24 * 3600.0


class TooManyRejectsError(ConstantContactError):
    """More rows failed the local checks than ``max_reject_rate`` allows; nothing was sent."""


class MissingCustomFieldsError(ConstantContactError, UnknownCustomFieldsError):
    """``cf:`` columns name custom fields the account lacks; nothing was sent. ``unknown`` lists them."""

    def __init__(self, message: str, unknown: list[str] | None = None) -> None:
        UnknownCustomFieldsError.__init__(self, message, list(unknown or []))


@dataclass
class ImportRequest:
    """One staged request: its payload file, size, and the source row of each contact, in order."""

    path: str | None
    contact_count: int
    size_bytes: int
    file_name: str
    sms_numbers: bool  # some contact carries sms_number (the API then requires sms_permission_to_send)
    chunk: Any = field(repr=False, default=None)  # CsvChunk or JsonImportBatch, to map "Line N" errors


class ConstantContactImportBaseOperator(ActivityWaiter, BaseOperator):
    """
    Validate, split, submit (once) and optionally wait for a bulk contact import.

    :param list_ids: ids of the lists to add every contact to (1 to 50). Templated.
    :param list_names: names of the lists instead of ids; missing lists are created (not in a dry run). Templated.
    :param column_map: source column -> V3 import name (``None`` drops a column), for what the aliases miss.
    :param dedupe: ``"first"`` or ``"last"`` occurrence of an email wins; ``None`` keeps duplicates.
    :param rejects_path: CSV of rows rejected locally (and, after a wait, by the API): a local path, a URL or
        an ``ObjectStoragePath``; an object is written locally in the task and uploaded. Templated.
    :param dry_run: read, check, count and estimate the requests; send nothing.
    :param max_reject_rate: fail before any upload if more than this share of rows is rejected locally.
    :param create_custom_fields: create custom fields named by ``cf:`` columns that the account lacks
        (otherwise the task fails before any upload, listing them).
    :param sms_permission_to_send: ``explicit`` or ``not_set``: the SMS permission of the imported
        ``sms_number`` values (the API requires it when there is an ``sms_number`` column).
    :param max_contacts_per_request: contacts per request (the API's maximum is the default).
    :param max_request_bytes: bytes per request (under the API's 4 MB, where it silently truncates).
    :param wait_for_completion: wait until every import activity completed.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: the shortest time between activity polls while waiting; later polls follow the
        activities' progress (README, "Waiting for bulk activities").
    :param wait_timeout: seconds to wait at most (a wall-clock deadline that holds while deferred).
    :param unknown_state_grace: seconds an unknown activity state is tolerated before failing.
    :param max_error_rate: fail if more than this share of contacts is rejected by the API (0.0 to 1.0).
    :param fail_on_errors: fail if the API rejects any contact.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("list_ids", "list_names", "rejects_path")
    operator_extra_links = (ConstantContactListLink(),)
    #: defaults of the subclass's request limits
    default_max_contacts: int = 40_000
    default_max_bytes: int = 4_000_000
    #: the source file, for subclasses that read one (a local path, a URL or an ObjectStoragePath)
    path: Location | None = None

    def __init__(
        self,
        *,
        list_ids: list[str] | str | None = None,
        list_names: list[str] | str | None = None,
        column_map: dict[str, str | None] | None = None,
        dedupe: DedupeMode | None = "first",
        rejects_path: Location | None = None,
        dry_run: bool = False,
        max_reject_rate: float | None = None,
        create_custom_fields: bool = False,
        sms_permission_to_send: str | None = None,
        max_contacts_per_request: int | None = None,
        max_request_bytes: int | None = None,
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
        if (list_ids is None) == (list_names is None):
            raise ValueError("Give exactly one of 'list_ids' or 'list_names'.")
        for name, rate in (("max_error_rate", max_error_rate), ("max_reject_rate", max_reject_rate)):
            if rate is not None and not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0.0 and 1.0; got {rate}.")
        if sms_permission_to_send not in (None, "explicit", "not_set"):
            raise ValueError(f"sms_permission_to_send must be 'explicit' or 'not_set'; got {sms_permission_to_send!r}.")
        if dedupe not in ("first", "last", None):
            raise ValueError(f"dedupe must be 'first', 'last' or None; got {dedupe!r}.")
        self.list_ids = list_ids
        self.list_names = list_names
        self.column_map = column_map
        self.dedupe = dedupe
        self.rejects_path = rejects_path
        self.dry_run_only = dry_run  # BaseOperator already has a dry_run() method
        self.max_reject_rate = max_reject_rate
        self.create_custom_fields = create_custom_fields
        self.sms_permission_to_send = sms_permission_to_send
        self.max_contacts_per_request = max_contacts_per_request or self.default_max_contacts
        self.max_request_bytes = max_request_bytes or self.default_max_bytes
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
    def prepare(self, source: str | None, rejects: str | None) -> PreparedImport:
        """
        Open the source as a :class:`~cc_provider.contacts.PreparedImport`.

        ``source`` is the local file that stands for ``path`` wherever it is (``None`` without a path),
        ``rejects`` the local file to write the rejects to (``None`` without ``rejects_path``).
        """

    @abstractmethod
    def stage(self, prepared: PreparedImport, list_ids: list[str], directory: str | None) -> Iterator[ImportRequest]:
        """Split the valid rows into request payloads in ``directory`` (``None``: measure only)."""

    @abstractmethod
    def post(self, hook: ConstantContactHook, request: ImportRequest, list_ids: list[str]) -> dict[str, Any]:
        """Send one staged request; return the activity the API created."""

    # -- the common life cycle ----------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        list_ids = self._list_ids(hook)
        with (
            storage.scratch_directory("import") as staging,
            storage.local_files(self.path, self.rejects_path, staging) as files,
        ):
            prepared = self._prepare(files)
            requests = list(self.stage(prepared, list_ids, None if self.dry_run_only else staging))
            for warning in prepared.warnings:
                self.log.warning("%s", warning)
            summary = self._summary(prepared, requests, list_ids)
            self._check_reject_rate(summary)
            self._check_custom_fields(hook, prepared)
            if any(r.sms_numbers for r in requests) and self.sms_permission_to_send is None:
                raise ValueError(
                    f"{prepared.source_name}: the contacts carry sms_number, and the API then requires the SMS "
                    "permission: set sms_permission_to_send='explicit' (consent given, with sms_consent_date) or "
                    "'not_set'. Nothing was sent."
                )
            if self.dry_run_only:
                self.log.info("Dry run: %s", summary)
                return {**summary, "dry_run": True}
            options = (self.column_map, self.dedupe, self.max_contacts_per_request, self.max_request_bytes)
            record, resumed = submit_all(
                requests,
                lambda request: self.post(hook, request, list_ids),
                ledger=SubmissionLedger.for_task(context, self.log, self.clock),
                fingerprint=fingerprint(prepared.identity, list_ids, options),
                count_members=(lambda: count_members(hook, list_ids)) if self.wait_for_completion else None,
                delay=hook.retry_policy.delay,
                log=self.log,
                sleep=self.sleep,
            )
        activity_ids = list(record.activity_ids)
        summary.update(
            {
                ACTIVITY_IDS_KEY: activity_ids,
                "requests_resumed": resumed,
                "requests_reposted": record.reposts,
                "members_before": record.members_before,
                "source_fingerprint": fingerprint(prepared.identity),
            }
        )
        context["ti"].xcom_push(key=ACTIVITY_IDS_KEY, value=activity_ids)
        if not self.wait_for_completion or not activity_ids:
            SubmissionLedger.for_task(context, self.log).clear()
            return summary
        end_time = self.clock() + self.wait_timeout
        activities = self.wait(context, activity_ids, end_time, state=summary, sent=summary["rows_sent"])
        return self._finish(context, summary, activities, requests)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: succeed only on a success event whose counters pass."""
        summary = self.resume_state(context)
        if not summary:  # e.g. deferred by an older provider version, which kept it under another key
            self.complete_event(context, event)  # a failed wait fails as such
            raise ConstantContactError(
                "The import resumed without the summary it kept before deferring, so it cannot account for its "
                "rows. Clear the task to run it again: the requests already answered are not posted again (and "
                "an import upserts by email, so nothing is duplicated)."
            )
        activities = self.complete_event(context, event, sent=summary.get("rows_sent"))
        self.linked_list_id = (summary.get("list_ids") or [None])[0]
        return self._finish(context, summary, activities, None)

    def _list_ids(self, hook: ConstantContactHook) -> list[str]:
        if self.list_ids is not None:
            ids = [self.list_ids] if isinstance(self.list_ids, str) else [str(i) for i in self.list_ids]
        else:
            names = [self.list_names] if isinstance(self.list_names, str) else list(self.list_names or [])
            ids = hook.list_ids_for_names(names, create_missing=not self.dry_run_only)
        if not 1 <= len(ids) <= 50:
            raise ValueError(f"An import adds contacts to 1 to 50 lists; got {len(ids)}.")
        self.linked_list_id = ids[0]
        self.lineage_lists = (self._account(hook), ids)
        return ids

    def _account(self, hook: ConstantContactHook) -> str:
        """The account name for lineage: the connection extra ``account``, else the API key (client id)."""
        conn = hook.get_connection(self.constant_contact_conn_id)
        return str(conn.extra_dejson.get("account") or conn.login)

    def _summary(self, prepared: PreparedImport, requests: list[ImportRequest], list_ids: list[str]) -> dict[str, Any]:
        counts = prepared.counts.as_dict()
        self.log.info(
            "Read %d rows: %d valid in %d request(s), %d rejected locally (%s).",
            counts["rows_read"],
            counts["rows_valid"],
            len(requests),
            counts["rows_rejected"],
            counts["by_reason"] or "no rejects",
        )
        return {
            "source": prepared.source_name,
            **counts,
            "rows_sent": 0 if self.dry_run_only else counts["rows_valid"],
            "contacts_sent": 0 if self.dry_run_only else counts.get("contacts_distinct", counts["rows_valid"]),
            "requests": len(requests),
            "bytes": sum(r.size_bytes for r in requests),
            "list_ids": list_ids,
            "rejects_path": storage.url(self.rejects_path) if self.rejects_path else None,
            "warnings": list(prepared.warnings),
        }

    def _check_reject_rate(self, summary: dict[str, Any]) -> None:
        if self.max_reject_rate is None or not summary["rows_read"]:
            return
        rate = summary["rows_rejected"] / summary["rows_read"]
        if rate > self.max_reject_rate:
            raise TooManyRejectsError(
                f"{summary['rows_rejected']} of {summary['rows_read']} rows ({rate:.1%}) failed the local checks, "
                f"more than max_reject_rate={self.max_reject_rate:.1%}; nothing was sent. "
                f"Reasons: {summary['by_reason']}; rows in {self.rejects_path or 'the log (set rejects_path)'}."
            )

    def _check_custom_fields(self, hook: ConstantContactHook, prepared: PreparedImport) -> None:
        used = set(prepared.custom_fields)
        if not used:
            return
        missing = missing_custom_fields(used, hook.custom_field_names())
        if not missing:
            return
        if not self.create_custom_fields or self.dry_run_only:
            columns = ", ".join(f"'cf:{name}'" for name in missing)
            raise MissingCustomFieldsError(
                f"{prepared.source_name}: header: column(s) {columns} name custom field(s) the account does not "
                "have; nothing was sent. Create them in Constant Contact, map the columns elsewhere with "
                "column_map, or set create_custom_fields=True.",
                missing,
            )
        for name in missing:
            hook.create_custom_field(name)
            self.log.info("Created custom field %r.", name)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Report lineage when the openlineage provider is installed: the source file -> the lists.

        Outputs are ``constantcontact://<account>`` / ``lists/<list id>``; an import of records (not a
        file) has no input dataset.
        """
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        account, list_ids = getattr(self, "lineage_lists", (None, []))
        path = self.path
        inputs = []
        if path:
            where = storage.as_storage_path(path)
            inputs = [Dataset(namespace=where.namespace if storage.is_remote(path) else "file", name=where.path)]
        outputs = [Dataset(namespace=f"constantcontact://{account}", name=f"lists/{i}") for i in list_ids]
        return OperatorLineage(inputs=inputs, outputs=outputs)

    def _finish(
        self,
        context: Context,
        summary: dict[str, Any],
        activities: list[dict[str, Any]],
        requests: list[ImportRequest] | None,
    ) -> dict[str, Any]:
        """Account for every row, report the API's rejections, and check that the contacts landed."""
        hook = ConstantContactHook(self.constant_contact_conn_id)
        api_rejects = None
        if self.rejects_path and any(rejected_count(a) or a.get("activity_errors") for a in activities):
            if requests is None:
                requests = self._restage(summary)
            with (
                storage.scratch_directory("rejects") as directory,
                storage.writable(self.rejects_path, directory, append=True) as rejects,
            ):
                api_rejects = write_api_rejects(
                    hook, rejects, activities, requests, self.log, shown_as=str(self.rejects_path)
                )
        counts = account_rows(summary, activities, api_rejects, self.log)
        ledger = SubmissionLedger.for_task(context, self.log)
        # The ground truth: every contact sent and neither rejected nor unsubscribed is on every list.
        # When some are not, the record is cleared, so the task's retry posts every request again
        # (imports upsert by email: a duplicate is harmless, a missing contact is not).
        members = check_membership(
            hook,
            summary.get("list_ids") or [],
            summary.get("members_before") or {},
            expected=counts["contacts_imported"] - counts["rows_not_added_unsubscribed"],
            sent=int(summary.get("contacts_sent", summary.get("rows_sent", 0))),
            on_missing=ledger.clear,
        )
        ledger.clear()
        return {**summary, **counts, "members": members, "activities": activities}

    def _prepare(self, files: storage.LocalFiles) -> PreparedImport:
        """:meth:`prepare` the local files; an object source is named and identified by its URL, size and version."""
        prepared = self.prepare(files.source, files.rejects)
        if files.remote_source is not None:
            prepared.source_name = files.remote_source["url"]
            extra = {k: v for k, v in prepared.identity.items() if k == "json_array_key"}
            prepared.identity = {**files.remote_source, **extra}
        return prepared

    def _restage(self, summary: dict[str, Any]) -> list[ImportRequest] | None:
        """
        Split the source again (measuring only) to learn the source rows of each request.

        After a deferral the staged requests are gone; the split is deterministic, so re-reading the
        source maps the API's rejections to rows. ``None`` (and a warning) when the source is unreadable.
        """
        try:
            with (
                storage.scratch_directory("restage") as directory,
                storage.local_files(self.path, None, directory) as files,
            ):
                prepared = self._prepare(files)
                if summary.get("source_fingerprint") != fingerprint(prepared.identity):
                    self.log.warning(
                        "The source changed since it was imported; the rows the API rejected are not named."
                    )
                    return None
                return list(self.stage(prepared, list(summary.get("list_ids") or []), None))
        except (OSError, ConstantContactError, ValueError) as err:
            self.log.warning("Could not read the source again to name the rows the API rejected: %s", err)
            return None
