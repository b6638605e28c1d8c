"""
Pure contact handling: reading sources, column mapping, the API's checks, deduplication and request splitting.

Nothing here does HTTP or imports Airflow, so it can be tested and benchmarked on its own. The usual
path is :func:`prepare_import` -> :func:`iter_csv_chunks` (file import) or
:func:`iter_json_import_batches` (JSON import), with :func:`check_custom_fields` before any upload.
"""

from __future__ import annotations

from cc_provider.contacts.activity_errors import RowError, map_activity_errors, parse_line_error
from cc_provider.contacts.batches import (
    MAX_CONTACTS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    JsonImportBatch,
    iter_json_import_batches,
)
from cc_provider.contacts.csv_chunks import MAX_CSV_CONTACTS, MAX_FILE_BYTES, CsvChunk, iter_csv_chunks
from cc_provider.contacts.csv_files import CsvFile
from cc_provider.contacts.custom_fields import check_custom_fields, collect_custom_fields, missing_custom_fields
from cc_provider.contacts.errors import ContactFileError, UnknownCustomFieldsError
from cc_provider.contacts.files import RejectsWriter
from cc_provider.contacts.json_files import JsonFile, iter_json_records
from cc_provider.contacts.pipeline import ImportCounts, PreparedImport, prepare_import
from cc_provider.contacts.records import format_record, iter_formatted
from cc_provider.contacts.rules import Rejected

__all__ = [
    "MAX_CONTACTS_PER_REQUEST",
    "MAX_CSV_CONTACTS",
    "MAX_FILE_BYTES",
    "MAX_REQUEST_BYTES",
    "ContactFileError",
    "CsvChunk",
    "CsvFile",
    "ImportCounts",
    "JsonFile",
    "JsonImportBatch",
    "PreparedImport",
    "Rejected",
    "RejectsWriter",
    "RowError",
    "UnknownCustomFieldsError",
    "check_custom_fields",
    "collect_custom_fields",
    "format_record",
    "iter_csv_chunks",
    "iter_formatted",
    "iter_json_import_batches",
    "iter_json_records",
    "map_activity_errors",
    "missing_custom_fields",
    "parse_line_error",
    "prepare_import",
]
