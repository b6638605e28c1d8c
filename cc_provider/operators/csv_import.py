"""Bulk contact import through ``contacts_file_import`` (multipart CSV upload)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cc_provider.contacts import MAX_CSV_CONTACTS, ContactFileError, PreparedImport, iter_csv_chunks
from cc_provider.contacts.fields import is_custom_field
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.import_base import ConstantContactImportBaseOperator, ImportRequest
from cc_provider.storage import Location

#: The column headings ``contacts_file_import`` takes besides ``cf:<name>`` (the spec's ``file`` parameter);
#: ``contacts_json_import`` takes more (``home_phone``, ``work_street``, ...).
FILE_IMPORT_COLUMNS = frozenset(
    {
        "email",
        "sms_number",
        "sms_consent_date",
        "first_name",
        "last_name",
        "phone",
        "job_title",
        "company_name",
        "anniversary",
        "birthday_month",
        "birthday_day",
        "street",
        "street2",
        "city",
        "state",
        "zip",
        "country",
    }
)


class ConstantContactImportCsvOperator(ConstantContactImportBaseOperator):
    """
    Import a CSV file with ``contacts_file_import`` uploads of at most 39,999 contacts and 4 MB each.

    The file is read as a stream (delimiter sniffed or set by a ``sep=`` line; UTF-8 with or without
    BOM, UTF-16, and lines that are not UTF-8 read as Windows-1252, named in a warning), its columns
    mapped to the V3 names (V2 headings such as "Email address" and "Zip/Postal Code" included),
    every row checked by the API's rules, and the valid rows written to temporary CSV files, each
    with the header, that are uploaded from disk. See
    :class:`~cc_provider.operators.import_base.ConstantContactImportBaseOperator` for the shared options.

    :param path: the CSV file: a local path, a URL (``s3://``, ``gs://``, ``file://``, ...) or an
        ``ObjectStoragePath``; an object is read from a streamed copy in the task's temporary directory. Templated.
    :param delimiter: the field delimiter, if sniffing should not guess it.
    :param encoding: the file's encoding, if it should not be detected.
    """

    template_fields: Sequence[str] = (*ConstantContactImportBaseOperator.template_fields, "path")
    default_max_contacts = MAX_CSV_CONTACTS

    def __init__(
        self, *, path: Location, delimiter: str | None = None, encoding: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.delimiter = delimiter
        self.encoding = encoding

    def prepare(self, source: str | None, rejects: str | None) -> PreparedImport:
        assert source is not None, "a CSV import always has a path"
        prepared = PreparedImport(
            source,
            column_map=self.column_map,
            dedupe=self.dedupe,
            rejects_path=rejects,
            delimiter=self.delimiter,
            encoding=self.encoding,
        )
        if prepared.columns is None:
            raise ContactFileError(f"{self.path}: not a CSV file; import JSON with ConstantContactImportJsonOperator.")
        refused = [key for key in prepared.columns if key not in FILE_IMPORT_COLUMNS and not is_custom_field(key)]
        if refused:
            raise ContactFileError(
                f"{self.path}: header: contacts_file_import takes no {', '.join(map(repr, refused))} column (it takes "
                f"{', '.join(sorted(FILE_IMPORT_COLUMNS))} and cf:<name>); map those columns elsewhere or to None "
                "with column_map, or import the file with ConstantContactImportJsonOperator. Nothing was sent."
            )
        return prepared

    def stage(self, prepared: PreparedImport, list_ids: list[str], directory: str | None) -> Iterator[ImportRequest]:
        assert prepared.columns is not None  # a CSV source always has its header
        sms_numbers = "sms_number" in prepared.columns
        chunks = iter_csv_chunks(
            prepared.rows(),
            prepared.columns,
            directory=directory,
            max_contacts=self.max_contacts_per_request,
            max_bytes=self.max_request_bytes,
        )
        for chunk in chunks:
            path = str(chunk.path) if chunk.path is not None else None
            yield ImportRequest(path, chunk.contact_count, chunk.size, chunk.file_name, sms_numbers, chunk)

    def post(self, hook: ConstantContactHook, request: ImportRequest, list_ids: list[str]) -> dict[str, Any]:
        assert request.path is not None
        return hook.submit_csv_import(request.path, list_ids, request.file_name, self.sms_permission_to_send)
