"""
Prepare an import: read a source, map and check every row, deduplicate, write the rejects, count.

:class:`PreparedImport` returns a :class:`PreparedImport`; iterating its rows or records yields the
valid ones and fills :attr:`PreparedImport.counts`, so a dry run counts everything without sending anything.
Every row read is either valid or rejected: ``rows_read == rows_valid + rows_rejected``; the valid
rows hold ``contacts_distinct`` contacts (fewer with ``dedupe=None`` when rows repeat an address).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cc_provider.contacts.column_plan import ColumnPlan, ColumnPlanError, shadowed_message
from cc_provider.contacts.csv_reader import CsvFile
from cc_provider.contacts.dedupe import AddressSet, DedupeMode, FirstWins, LastWins, make_deduplicator
from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.fields import DEFAULT_V2_CUSTOM_FIELD, check_import_key
from cc_provider.contacts.record_formatter import RecordFormatter
from cc_provider.contacts.rejects import Rejected, RejectsWriter
from cc_provider.contacts.rules import DUPLICATE_EMAIL
from cc_provider.contacts.sources import Source, open_source


@dataclass
class ImportCounts:
    """What happened to the rows of a source; complete once the prepared import has been iterated."""

    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    #: Distinct contacts among the valid rows: email addresses (case-insensitive), or the sms_number of a
    #: row without one. The same as ``rows_valid`` with dedupe first/last (unless sms-only rows repeat a
    #: number); with ``dedupe=None`` the rows that repeat an address count once, as the API merges them.
    contacts_distinct: int = 0
    #: CSV rows without any value; skipped, and not part of ``rows_read``.
    rows_blank: int = 0
    #: Rejected rows that were duplicates of an imported row (part of ``rows_rejected``).
    duplicates: int = 0
    #: Lines written to the rejects file: one per problem, so at least ``rows_rejected``.
    problems: int = 0
    #: Rejected rows by the reason code of their first problem (sums to ``rows_rejected``).
    by_reason: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Return the counts as plain types (for XCom)."""
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "contacts_distinct": self.contacts_distinct,
            "rows_rejected": self.rows_rejected,
            "rows_blank": self.rows_blank,
            "duplicates": self.duplicates,
            "problems": self.problems,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


class PreparedImport:
    """
    A source read as checked import rows; iterate its :meth:`rows` or :meth:`records` once.

    A CSV file's header is read and checked here, and a JSON file's layout decided (a top-level object
    walked through to find its array), so an unusable file fails before anything else. :meth:`rows`
    gives CSV-ready values (for :func:`iter_csv_chunks`), :meth:`records` gives ``contacts_json_import``
    records (for :func:`iter_json_import_batches`). The rejects file is written, and :attr:`counts`
    filled, while either is iterated.

    To look at the valid rows' identities (e.g. to compare what was sent with a list's members), tap
    the iterator the import consumes: :meth:`records` yields ``email``/``sms_number`` keys, :meth:`rows`
    values aligned with :attr:`columns`; a second :class:`PreparedImport` of the same source yields the
    same rows again.

    :param source: a CSV, JSON or JSON Lines file (by suffix: ``.csv .tsv .txt`` / ``.json .jsonl
        .ndjson``; otherwise by the first character), a :class:`CsvFile`, or an iterable of mappings.
    :param column_map: source column -> V3 import name or ``cf:<name>`` (``None`` drops the column).
    :param dedupe: ``"first"`` or ``"last"`` row of each email address wins (case-insensitive), or ``None``
        (every valid row is sent; ``counts.contacts_distinct`` says how many contacts they are).
        ``"last"`` reads the source twice, so records must be a list, not an iterator.
    :param rejects_path: CSV file for rejected rows (``row_number, column, value, reason``; one line per problem).
    :param on_reject: called with each :class:`Rejected` (e.g. to log the first few).
    :param v2_custom_field: V3 name for V2 "Custom Field N" columns (default ``cf:custom_field_{n}``; ``None`` drops).
    :param today: the date the anniversary's "10 years ahead" rule counts from (default: today).
    :param delimiter: CSV delimiter (default: Excel's ``sep=`` first line, else sniffed among ``, ; TAB |``).
    :param encoding: CSV encoding (default: the BOM's, else UTF-8, with lines that are not UTF-8 read as
        Windows-1252 or Latin-1 and named in a warning).
    :param columns: for records: the fixed import columns :meth:`rows` aligns values with.
    :param json_array_key: for a JSON file holding one object: the key whose array holds the contacts
        (default: the object's only array of objects, with a warning; see :mod:`.json_reader`).
    :ivar columns: import names of :meth:`rows` values (CSV sources; mapping sources given ``columns``).
    :ivar identity: what changes when the input changes (a file's path, size and modification time; a
        digest of records given as a list; for an iterator, a value no other import has).
    """

    def __init__(
        self,
        source: Source,
        *,
        column_map: Mapping[str, str | None] | None = None,
        dedupe: DedupeMode | None = "first",
        rejects_path: str | os.PathLike[str] | None = None,
        on_reject: Callable[[Rejected], None] | None = None,
        v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
        today: date | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        columns: Sequence[str] | None = None,
        json_array_key: str | None = None,
    ) -> None:
        self.column_map = dict(column_map) if column_map else None
        for target in (self.column_map or {}).values():
            if target is not None:
                try:
                    check_import_key(target)
                except ValueError as err:
                    raise ValueError(f"column_map: {err}") from None
        self.rejects_path = Path(rejects_path) if rejects_path is not None else None
        self.counts = ImportCounts()
        self._notes: list[str] = []  # warnings of the mapping (the reader's own come from CsvFile / JsonFile)
        self._on_reject = on_reject
        self._deduplicator = make_deduplicator(dedupe)
        self._today = today or date.today()
        self._v2_custom_field = v2_custom_field
        self._used = False
        self._plan: ColumnPlan | None = None
        self._formatter: RecordFormatter | None = None
        self.columns: tuple[str, ...] | None = None
        self.encoding: str | None = None
        self.delimiter: str | None = None
        opened = open_source(
            source, delimiter=delimiter, encoding=encoding, json_array_key=json_array_key, column_map=self.column_map
        )
        self.source_name = opened.name
        self.identity = source_identity(source, json_array_key)
        self._csv, self._json, self._records = opened.csv, opened.json, opened.records
        if self._csv is not None:
            self._start_csv(self._csv)
        else:
            self._formatter = RecordFormatter(
                self.column_map, v2_custom_field=v2_custom_field, today=self._today, source_name=self.source_name
            )
            if columns is not None:
                for key in columns:
                    check_import_key(key)
                self.columns = tuple(columns)
        if dedupe == "last" and opened.one_shot:
            raise ValueError("dedupe='last' reads the source twice; pass a list of records or a file, not an iterator.")

    def _start_csv(self, csv_file: CsvFile) -> None:
        try:
            plan = ColumnPlan(
                csv_file.header, column_map=self.column_map, v2_custom_field=self._v2_custom_field, today=self._today
            )
        except ColumnPlanError as err:
            raise ContactFileError(f"{csv_file.path}: header: {err}.") from None
        if not plan.has_identity_column:
            raise ContactFileError(
                f"{csv_file.path}: no email column among {list(csv_file.header)}; name one 'email' (or "
                f"'Email address'), give an 'sms_number' column, or map one with column_map."
            )
        self._plan = plan
        self.columns = plan.columns
        self.encoding, self.delimiter = csv_file.encoding, csv_file.delimiter
        unmapped = [name for name in plan.ignored_columns if name not in (self.column_map or ())]  # not asked to drop
        if unmapped:
            self._notes.append(f"{csv_file.path}: columns not imported: {', '.join(unmapped)}.")
        for column, winner, key in plan.shadowed_columns:
            self._notes.append(shadowed_message(str(csv_file.path), column, winner, key, self.column_map))
        unused = sorted(set(self.column_map or ()) - set(csv_file.header))
        if unused:
            self._notes.append(f"{csv_file.path}: column_map names columns the file lacks: {', '.join(unused)}.")

    @property
    def warnings(self) -> list[str]:
        """
        Things worth logging: the rows read as Windows-1252, Excel's ``sep=`` line, the array a JSON
        object's contacts were read from, keys or columns not imported (or shadowed by another for the
        same field), unused ``column_map`` keys. Those about records are complete once iterated.
        """
        reader = self._csv.warnings if self._csv is not None else self._json.warnings if self._json else []
        return [*reader, *self._notes]

    @property
    def custom_fields(self) -> frozenset[str]:
        """Custom field names (without ``cf:``) the import uses; for records, those seen so far."""
        if self._plan is not None:
            return self._plan.custom_fields
        assert self._formatter is not None
        return self._formatter.custom_fields_seen()

    # -- iteration -------------------------------------------------------------------------------

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(row_number, contacts_json_import record)`` for each valid row."""
        if self._plan is not None:
            record = self._plan.record
            return ((row_number, record(values)) for row_number, values in self._csv_rows())
        return ((row_number, plan.record(values)) for row_number, plan, values in self._record_rows())

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(row_number, values)`` for each valid row, values aligned with :attr:`columns` (blank: ``""``)."""
        if self.columns is None:
            raise ValueError("rows() needs fixed columns: read a CSV file, or pass columns=... for records.")
        if self._plan is not None:
            return self._csv_rows()
        return self._aligned(self.columns, self._record_rows())

    def _aligned(
        self, columns: tuple[str, ...], rows: Iterator[tuple[int, ColumnPlan, list[str]]]
    ) -> Iterator[tuple[int, list[str]]]:
        positions: dict[int, list[int]] = {}
        for row_number, plan, values in rows:
            where = positions.get(id(plan))
            if where is None:
                unknown = [key for key in plan.columns if key not in columns]
                if unknown:
                    raise ContactFileError(
                        f"{self.source_name}: row {row_number}: {', '.join(unknown)} not among the columns {columns}."
                    )
                where = positions[id(plan)] = [columns.index(key) for key in plan.columns]
            aligned = [""] * len(columns)
            for position, value in zip(where, values, strict=True):
                aligned[position] = value
            yield row_number, aligned

    def _start(self) -> RejectsWriter | None:
        if self._used:
            raise RuntimeError("A prepared import can be iterated once; call PreparedImport() again.")
        self._used = True
        return RejectsWriter(self.rejects_path) if self.rejects_path is not None else None

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        """The CSV hot loop: check, deduplicate, count and reject in one pass over the file."""
        assert self._csv is not None and self._plan is not None
        csv_file, plan, counts = self._csv, self._plan, self.counts
        clean, passes, problems, reject = plan.clean, plan.passes, plan.problems, self._reject
        email_index, sms_index = plan.email_index, plan.sms_index
        dedupe = self._deduplicator if email_index is not None else None
        # rows the deduplicator does not see (all without it; those without an email with it) count by identity
        check_identity = dedupe is None or sms_index is not None
        add_identity = None
        if check_identity:
            add_identity = (dedupe.seen if isinstance(dedupe, FirstWins) else AddressSet()).add
        rejects = self._start()
        read = valid = blank = repeated = 0
        try:
            if isinstance(dedupe, LastWins):
                for row_number, fields, spans_lines in csv_file.rows():
                    values = clean(fields, spans_lines)
                    if (passes(values) or not problems(row_number, values)) and values[email_index]:  # type: ignore[index]
                        dedupe.observe(row_number, values[email_index])  # type: ignore[index]
                dedupe.end_first_pass()
            # first wins: its set of addresses is used inline (this loop runs once per row of the file)
            add_address = dedupe.seen.add if isinstance(dedupe, FirstWins) else None
            duplicate_reason = dedupe.duplicate_reason if dedupe is not None else None
            for row_number, fields, spans_lines in csv_file.rows():
                read += 1
                values = clean(fields, spans_lines)
                if not passes(values):
                    found = problems(row_number, values)
                    if found:
                        if not any(map(str.strip, fields)):  # only whitespace: a blank row
                            read -= 1
                            blank += 1
                        else:
                            reject(found, rejects)
                        continue
                if duplicate_reason is not None and (email := values[email_index]):  # type: ignore[index]
                    new_address = add_address is not None and add_address(email.lower())  # first wins: True if new
                    if not new_address and (reason := duplicate_reason(row_number, email)) is not None:
                        self._reject_duplicate(row_number, plan, email, reason, rejects)
                        continue
                elif add_identity is not None:  # inline _identity(): this runs once per row without dedupe
                    email = values[email_index] if email_index is not None else ""
                    if not add_identity(email.lower() if email else "sms:" + values[sms_index].replace("-", "")):  # type: ignore[index]
                        repeated += 1
                valid += 1
                yield row_number, values
        finally:
            counts.rows_read += read
            counts.rows_valid += valid
            counts.contacts_distinct += valid - repeated
            counts.rows_blank = csv_file.blank_rows + blank
            if rejects is not None:
                rejects.close()

    def _record_rows(self) -> Iterator[tuple[int, ColumnPlan, list[str]]]:
        """The loop over records (mappings): check, deduplicate, count and reject."""
        assert self._formatter is not None and self._records is not None
        formatter = self._formatter
        check, counts, dedupe = formatter.check, self.counts, self._deduplicator
        identities = dedupe.seen if isinstance(dedupe, FirstWins) else None  # made on first use otherwise
        rejects = self._start()
        try:
            if isinstance(dedupe, LastWins):
                for row_number, row in self._records():
                    plan, values, found = check(row_number, self._mapping(row_number, row))
                    if not found and plan.email_index is not None and values[plan.email_index]:
                        dedupe.observe(row_number, values[plan.email_index])
                dedupe.end_first_pass()
            for row_number, row in self._records():
                counts.rows_read += 1
                plan, values, found = check(row_number, self._mapping(row_number, row))
                if found:
                    self._reject(found, rejects)
                    continue
                email = values[plan.email_index] if plan.email_index is not None else ""
                if dedupe is not None and email:
                    if reason := dedupe.duplicate_reason(row_number, email):
                        self._reject_duplicate(row_number, plan, email, reason, rejects)
                        continue
                    counts.contacts_distinct += 1  # the deduplicator keeps one row an address
                else:
                    if identities is None:
                        identities = AddressSet()
                    if identities.add(_identity(values, plan.email_index, plan.sms_index)):
                        counts.contacts_distinct += 1
                counts.rows_valid += 1
                yield row_number, plan, values
        finally:
            if rejects is not None:
                rejects.close()
            self._notes.extend(formatter.notes())

    def _mapping(self, row_number: int, row: Any) -> Mapping[str, Any]:
        if not isinstance(row, Mapping):
            raise ContactFileError(f"{self.source_name}: row {row_number} is a {type(row).__name__}, not a mapping.")
        return row

    def _reject_duplicate(
        self, row_number: int, plan: ColumnPlan, email: str, reason: str, rejects: RejectsWriter | None
    ) -> None:
        self.counts.duplicates += 1
        column = plan.source_column(plan.email_index)  # type: ignore[arg-type]
        self._reject([Rejected(row_number, column, email, reason, DUPLICATE_EMAIL)], rejects)

    def _reject(self, problems: list[Rejected], rejects: RejectsWriter | None) -> None:
        counts = self.counts
        counts.rows_rejected += 1
        counts.problems += len(problems)
        counts.by_reason[problems[0].code] += 1
        for problem in problems:
            if rejects is not None:
                rejects.write(problem)
            if self._on_reject is not None:
                self._on_reject(problem)


def _identity(values: Sequence[str], email_index: int | None, sms_index: int | None) -> str:
    """The key of a valid row's contact: its email, lower-cased, else ``sms:`` and its number's digits."""
    email = values[email_index] if email_index is not None else ""
    if email:
        return email.lower()
    return "sms:" + values[sms_index].replace("-", "")  # type: ignore[index]  # a valid row has one or the other


def source_identity(source: Source, json_array_key: str | None = None) -> dict[str, Any]:
    """Identify an import's input cheaply, to tell whether a retry imports the same thing."""
    if isinstance(source, CsvFile):
        source = source.path
    if isinstance(source, str | os.PathLike):
        stat = os.stat(source)
        identity: dict[str, Any] = {"path": os.path.abspath(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    elif isinstance(source, Sequence):
        digest = hashlib.sha256(json.dumps(list(source), sort_keys=True, default=str).encode("utf-8"))
        identity = {"contacts": digest.hexdigest()}
    else:  # an iterator cannot be read twice, so nothing could show that a retry reads the same records
        identity = {"records": uuid.uuid4().hex}
    return {**identity, "json_array_key": json_array_key} if json_array_key else identity
