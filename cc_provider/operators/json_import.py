"""Bulk contact import through ``contacts_json_import``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from cc_provider.contacts.batches import MAX_CONTACTS_PER_REQUEST, MAX_REQUEST_BYTES, iter_json_import_batches
from cc_provider.contacts.files import RejectsWriter, iter_json_records
from cc_provider.contacts.records import Rejected, iter_formatted
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.import_base import ACTIVITY_IDS_KEY, ConstantContactImportBaseOperator, ImportRequest

__all__ = ["ACTIVITY_IDS_KEY", "ConstantContactImportJsonOperator"]


class ConstantContactImportJsonOperator(ConstantContactImportBaseOperator):
    """
    Import contacts into lists with bulk JSON imports, split to the API's per-request limits.

    Give either ``contacts`` (a list of dicts, e.g. from XCom) or ``path`` (a JSON array or JSON Lines
    file, read as a stream). Columns are mapped to the V3 import names; rows without an email are
    rejected locally. Returns a summary (never the contacts) and pushes the activity ids under the
    XCom key ``activity_ids``. See :class:`~cc_provider.operators.import_base.ConstantContactImportBaseOperator`
    for the waiting and resuming options.

    :param contacts: records to import. Templated.
    :param path: JSON or JSON Lines file of records. Templated.
    :param max_contacts_per_request: at most 40,000.
    :param max_request_bytes: request body ceiling in bytes (the API drops what is past 4 MB).
    """

    template_fields: Sequence[str] = (*ConstantContactImportBaseOperator.template_fields, "contacts", "path")

    def __init__(
        self,
        *,
        contacts: list[Mapping[str, Any]] | None = None,
        path: str | None = None,
        max_contacts_per_request: int = MAX_CONTACTS_PER_REQUEST,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (contacts is None) == (path is None):
            raise ValueError("Give exactly one of 'contacts' or 'path'.")
        self.contacts = contacts
        self.path = path
        self.max_contacts_per_request = max_contacts_per_request
        self.max_request_bytes = max_request_bytes

    def source_identity(self) -> Any:
        if self.path:
            stat = os.stat(self.path)
            return {"path": os.path.abspath(self.path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        digest = hashlib.sha256(json.dumps(self.contacts, sort_keys=True, default=str).encode("utf-8"))
        return {"contacts": digest.hexdigest()}

    def split_options(self) -> dict[str, Any]:
        return {"max_contacts": self.max_contacts_per_request, "max_bytes": self.max_request_bytes}

    def iter_requests(
        self, list_ids: list[str], counts: dict[str, int], rejects: RejectsWriter | None
    ) -> Iterator[ImportRequest]:
        source: Iterable[Mapping[str, Any]] = iter_json_records(self.path) if self.path else (self.contacts or [])
        valid = self._valid_records(iter_formatted(source, self.column_map), counts, rejects)
        batches = iter_json_import_batches(
            valid, list_ids, max_contacts=self.max_contacts_per_request, max_bytes=self.max_request_bytes
        )
        for batch in batches:
            yield ImportRequest(batch.body, batch.contact_count, len(batch.body))

    def post(self, hook: ConstantContactHook, request: ImportRequest, list_ids: list[str]) -> dict[str, Any]:
        return hook.submit_json_import(request.payload)

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
