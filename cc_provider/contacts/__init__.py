"""
Pure contact handling: column mapping, local checks and request splitting.

Nothing here does HTTP or imports Airflow, so it can be tested and benchmarked on its own.
"""

from __future__ import annotations

from cc_provider.contacts.batches import JsonImportBatch, iter_json_import_batches
from cc_provider.contacts.records import Rejected, format_record, iter_formatted

__all__ = ["JsonImportBatch", "Rejected", "format_record", "iter_formatted", "iter_json_import_batches"]
