"""
Pure contact handling: reading sources, column mapping, the API's checks, deduplication and request splitting.

Nothing here does HTTP or imports Airflow, so it can be tested and benchmarked on its own. The usual
path is :class:`PreparedImport` -> :func:`iter_csv_chunks` (file import) or
:func:`iter_json_import_batches` (JSON import), with :func:`missing_custom_fields` before any upload.

=====================  ===================================================================================
``prepare``            :class:`PreparedImport`: a source read, checked, deduplicated; rejects written, counted
``sources``            which reader reads a source (CSV or JSON file, or records)
``csv_reader``         CSV files, streamed: encoding, delimiter, quoting, row numbers
``json_reader``        JSON array, JSON Lines and one-object files, streamed (values: ``_json_stream``)
``decoding``           bytes to text: the scan for invalid UTF-8, the per-line fallback
``fields``             the V3 import names, their limits, aliases and V2 headings; custom fields
``column_plan``        one header -> import columns and the checks its rows need
``record_formatter``   mappings (JSON records, query rows) -> import records, a column plan per key set
``rules``              the API's rules for one value, and the reason codes
``dedupe``             first or last row of an email address wins
``uploads``            CSV files and JSON bodies within the API's per-request limits
``rejects``            the rejects file, and the API's ``Line N`` errors tied back to source rows
``errors``             the package's exceptions
=====================  ===================================================================================
"""

from __future__ import annotations

from cc_provider.contacts.errors import ContactFileError, UnknownCustomFieldsError
from cc_provider.contacts.fields import missing_custom_fields
from cc_provider.contacts.json_reader import iter_json_records
from cc_provider.contacts.prepare import PreparedImport
from cc_provider.contacts.record_formatter import format_record
from cc_provider.contacts.rejects import Rejected, RejectsWriter, map_activity_errors
from cc_provider.contacts.sources import Source
from cc_provider.contacts.uploads import MAX_CSV_CONTACTS, iter_csv_chunks, iter_json_import_batches

__all__ = [
    "MAX_CSV_CONTACTS",
    "ContactFileError",
    "PreparedImport",
    "Rejected",
    "RejectsWriter",
    "Source",
    "UnknownCustomFieldsError",
    "format_record",
    "iter_csv_chunks",
    "iter_json_import_batches",
    "iter_json_records",
    "map_activity_errors",
    "missing_custom_fields",
]
