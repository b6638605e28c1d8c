"""Bulk contact import through ``contacts_json_import``."""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_provider.contacts import PreparedImport, iter_json_import_batches
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.import_base import ACTIVITY_IDS_KEY, ConstantContactImportBaseOperator, ImportRequest
from cc_provider.storage import Location

__all__ = ["ACTIVITY_IDS_KEY", "ConstantContactImportJsonOperator"]


@dataclass(frozen=True)
class JsonRequestLines:
    """The source row of each contact of one sent body, 4 bytes each, to map the API's "Line N" errors."""

    row_numbers: array  # array('I'), in import_data order

    def source_row(self, line: int) -> int | None:
        """Return the source row of ``Line <line>`` (1-based position in ``import_data``), or ``None``."""
        return self.row_numbers[line - 1] if 1 <= line <= len(self.row_numbers) else None


class ConstantContactImportJsonOperator(ConstantContactImportBaseOperator):
    """
    Import contacts with ``contacts_json_import`` requests of at most 40,000 contacts and 4 MB.

    Give either ``contacts`` (records, e.g. from XCom or a database query) or ``path`` (a JSON array,
    JSON Lines or CSV file, read as a stream). Every row is checked by the API's rules first; rows that
    fail go to ``rejects_path`` with a reason. Returns a summary (never the contacts) and pushes the
    activity ids under the XCom key ``activity_ids``. See
    :class:`~cc_provider.operators.import_base.ConstantContactImportBaseOperator` for the shared options.

    :param contacts: records to import. Templated.
    :param path: file of records: a local path, a URL (``s3://``, ``gs://``, ``file://``, ...) or an
        ``ObjectStoragePath``; an object is read from a streamed copy in the task's temporary directory. Templated.
    :param json_array_key: for a JSON file whose top level is an object, the key whose array holds the
        contacts (``{"contacts": [...]}``); without it, an object whose only array of objects is under
        one key is read from there, with a warning, and any other layout stops with a clear error.
    """

    template_fields: Sequence[str] = (*ConstantContactImportBaseOperator.template_fields, "contacts", "path")

    def __init__(
        self,
        *,
        contacts: list[Mapping[str, Any]] | None = None,
        path: Location | None = None,
        json_array_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (contacts is None) == (path is None):
            raise ValueError("Give exactly one of 'contacts' or 'path'.")
        self.contacts = contacts
        self.path = path
        self.json_array_key = json_array_key

    def prepare(self, source: str | None, rejects: str | None) -> PreparedImport:
        return PreparedImport(
            source or list(self.contacts or []),
            column_map=self.column_map,
            dedupe=self.dedupe,
            rejects_path=rejects,
            json_array_key=self.json_array_key,
        )

    def stage(self, prepared: PreparedImport, list_ids: list[str], directory: str | None) -> Iterator[ImportRequest]:
        batches = iter_json_import_batches(
            prepared.records(),
            list_ids,
            max_contacts=self.max_contacts_per_request,
            max_bytes=self.max_request_bytes,
            sms_permission_to_send=self.sms_permission_to_send,
        )
        for number, batch in enumerate(batches, start=1):
            path = None
            if directory is not None:
                path = os.path.join(directory, f"contacts_{number:04d}.json")
                Path(path).write_bytes(batch.body)
            # keep the row numbers (not the body, nor a tuple of int objects: 36 MB a million rows)
            lines = JsonRequestLines(array("I", batch.row_numbers))
            name = os.path.basename(path or "")
            yield ImportRequest(path, batch.contact_count, len(batch.body), name, batch.sms_numbers, lines)

    def post(self, hook: ConstantContactHook, request: ImportRequest, list_ids: list[str]) -> dict[str, Any]:
        assert request.path is not None
        return hook.submit_json_import(Path(request.path).read_bytes())
