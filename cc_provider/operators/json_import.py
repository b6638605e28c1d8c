"""Bulk contact import through ``contacts_json_import``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from cc_provider.contacts.batches import MAX_CONTACTS_PER_REQUEST, MAX_REQUEST_BYTES, iter_json_import_batches
from cc_provider.contacts.files import RejectsWriter, iter_json_records
from cc_provider.contacts.records import Rejected, iter_formatted
from cc_provider.hooks.constant_contact import ConstantContactHook

ACTIVITY_IDS_KEY = "activity_ids"


class ConstantContactImportJsonOperator(BaseOperator):
    """
    Import contacts into lists with bulk JSON imports, split to the API's per-request limits.

    Give either ``contacts`` (a list of dicts, e.g. from XCom) or ``path`` (a JSON array or JSON Lines
    file, read as a stream). Columns are mapped to the V3 import names; rows without an email are
    rejected locally. Returns a summary (never the contacts) and pushes the activity ids under the
    XCom key ``activity_ids`` for a :class:`~cc_provider.sensors.activity.ConstantContactActivitySensor`.

    :param list_ids: ids of the lists to add every contact to (1 to 50). Templated.
    :param contacts: records to import. Templated.
    :param path: JSON or JSON Lines file of records. Templated.
    :param column_map: source column -> V3 import name, for columns the built-in aliases miss.
    :param rejects_path: where to write locally rejected rows as CSV. Templated.
    :param max_contacts_per_request: at most 40,000.
    :param max_request_bytes: request body ceiling in bytes (the API drops what is past 4 MB).
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("list_ids", "contacts", "path", "rejects_path")

    def __init__(
        self,
        *,
        list_ids: list[str] | str,
        contacts: list[Mapping[str, Any]] | None = None,
        path: str | None = None,
        column_map: dict[str, str] | None = None,
        rejects_path: str | None = None,
        max_contacts_per_request: int = MAX_CONTACTS_PER_REQUEST,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (contacts is None) == (path is None):
            raise ValueError("Give exactly one of 'contacts' or 'path'.")
        self.list_ids = list_ids
        self.contacts = contacts
        self.path = path
        self.column_map = column_map
        self.rejects_path = rejects_path
        self.max_contacts_per_request = max_contacts_per_request
        self.max_request_bytes = max_request_bytes
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        list_ids = [self.list_ids] if isinstance(self.list_ids, str) else [str(i) for i in self.list_ids]
        source: Iterable[Mapping[str, Any]] = iter_json_records(self.path) if self.path else (self.contacts or [])
        hook = ConstantContactHook(self.constant_contact_conn_id)
        counts = {"rows_read": 0, "rows_rejected": 0}
        rejects = RejectsWriter(self.rejects_path) if self.rejects_path else None
        activity_ids: list[str] = []
        sent = 0
        try:
            valid = self._valid_records(iter_formatted(source, self.column_map), counts, rejects)
            batches = iter_json_import_batches(
                valid, list_ids, max_contacts=self.max_contacts_per_request, max_bytes=self.max_request_bytes
            )
            for number, batch in enumerate(batches, start=1):
                activity = hook.submit_json_import(batch.body)
                activity_ids.append(activity["activity_id"])
                sent += batch.contact_count
                self.log.info(
                    "Import request %d: %d contacts (%d bytes) -> activity %s.",
                    number,
                    batch.contact_count,
                    len(batch.body),
                    activity["activity_id"],
                )
        finally:
            if rejects:
                rejects.close()
        summary = {
            **counts,
            "rows_sent": sent,
            "requests": len(activity_ids),
            ACTIVITY_IDS_KEY: activity_ids,
            "list_ids": list_ids,
            "rejects_path": self.rejects_path,
        }
        self.log.info(
            "Read %d rows: %d sent in %d request(s), %d rejected locally.",
            counts["rows_read"],
            sent,
            len(activity_ids),
            counts["rows_rejected"],
        )
        context["ti"].xcom_push(key=ACTIVITY_IDS_KEY, value=activity_ids)
        return summary

    def _valid_records(
        self,
        formatted: Iterable[tuple[int, dict[str, Any] | Rejected]],
        counts: dict[str, int],
        rejects: RejectsWriter | None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        for row_number, result in formatted:
            counts["rows_read"] += 1
            if isinstance(result, Rejected):
                counts["rows_rejected"] += 1
                if counts["rows_rejected"] <= 5:
                    self.log.warning("Row %d rejected (%s): %s.", row_number, result.column, result.reason)
                if rejects:
                    rejects.write(result)
                continue
            yield row_number, result
