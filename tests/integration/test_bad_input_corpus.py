"""
The bad-input corpus (issue 9): every file of ``tests/data/bad`` through the real import operator.

Each file has one expected outcome, written down here and in the folder's README table: a typed error
that names the file and where (raised before any upload), or row-level rejects with exact accounting.
CSV files go through ``ConstantContactImportCsvOperator``, JSON and JSON Lines through
``ConstantContactImportJsonOperator``, against the session sandbox, uploading and waiting for real.
The big cases (a 10 MB field, over 40,000 rows, over 4 MB) are generated at test time.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cc_provider.contacts import ContactFileError
from cc_provider.contacts.rejects import FORMULA_PREFIXES
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.operators.csv_import import ConstantContactImportCsvOperator
from cc_provider.operators.import_base import MissingCustomFieldsError
from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_sandbox.testing import CONNECTION_ENV, sandbox_stats
from tests.integration.helpers import RecordingTaskInstance

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
README = CORPUS / "README.md"
MAX_UPLOAD_BYTES = 4_000_000
MAX_UPLOAD_CONTACTS = 40_000

# -- what each file should do ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fails:
    """A clear error before any upload: ``error`` exactly, its message naming the file and every part."""

    error: type[Exception]
    parts: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Imports:
    """Row-level outcome: the rows read, the rejects file's lines, and what reached the sandbox."""

    rows_read: int
    #: ``(row_number, column, text of the reason)`` for each line of the rejects file, in order.
    rejects: tuple[tuple[int, str, str], ...] = ()
    blank: int = 0
    duplicates: int = 0
    requests: int | None = None  # default: one request when anything is sent
    #: contacts in each upload, in order (checked on the bytes posted)
    upload_contacts: tuple[int, ...] | None = None
    warnings: tuple[str, ...] = ()
    #: exact ``value`` cells of the rejects file, by row (formula neutralisation)
    values: dict[int, str] = field(default_factory=dict)
    #: fields of imported contacts as the sandbox stored them, by email
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return len({row for row, _, _ in self.rejects})

    @property
    def rows_sent(self) -> int:
        return self.rows_read - self.rows_rejected


INVALID = "not a valid email address"
NO_EMAIL = "no email address"
DUPLICATE = "duplicate email address; an earlier row with it is imported (first wins)"
NOT_TEXT = "must be text, a number or a date"
SMS = "sms_number must be a US number"
UTF16 = "is it UTF-16 without a BOM?"
CREATE_FIELDS = {"create_custom_fields": True}
WRAPPED = (
    "the top level is an object, not an array; the contacts are read from its only array of objects, under 'contacts'"
)
TITLE_SHADOWED = (
    "'Title' is not imported: 'Job Title' fills job_title (a heading naming the field itself wins over an alias)"
)

EXPECTED: dict[str, Fails | Imports] = {
    # encodings
    "encoding_latin1.csv": Imports(
        3,
        warnings=("encoding_latin1.csv: rows 2, 3, 4 are not UTF-8; read as Windows-1252.",),
        contacts={
            "zoe@example.com": {"first_name": "Zoé", "last_name": "Müller"},
            "bjorn@example.com": {"last_name": "Straße"},
        },
    ),
    "encoding_windows1252.csv": Imports(
        2,
        warnings=("encoding_windows1252.csv: rows 2, 3 are not UTF-8; read as Windows-1252.",),
        contacts={"euro@example.com": {"first_name": "Zoë", "company_name": "“Smart” Co €"}},
    ),
    "encoding_latin1_c1_byte.csv": Imports(
        2,
        warnings=("encoding_latin1_c1_byte.csv: row 2 is not UTF-8 nor Windows-1252; read as Latin-1.",),
        contacts={"c1@example.com": {"first_name": "Ann\x81e"}},
    ),
    "encoding_utf16le_bom.csv": Imports(2, contacts={"wen@example.com": {"first_name": "文"}}),
    "encoding_utf16be_bom.csv": Imports(2, contacts={"zoe16@example.com": {"first_name": "Zoë"}}),
    "encoding_utf16le_no_bom.csv": Fails(ContactFileError, ("row 1 (line 1), column 1: NUL characters", UTF16)),
    "encoding_utf16be_no_bom.csv": Fails(ContactFileError, ("row 1 (line 1), column 1: NUL characters", UTF16)),
    "encoding_invalid_utf8.csv": Imports(
        3,
        warnings=("encoding_invalid_utf8.csv: rows 3, 4 are not UTF-8; read as Windows-1252.",),
        contacts={"bad@example.com": {"first_name": "BadÃ(Byte"}, "end@example.com": {"first_name": "Eveÿ"}},
    ),
    "encoding_mixed_utf8_latin1.csv": Imports(
        2,
        warnings=("encoding_mixed_utf8_latin1.csv: row 3 is not UTF-8; read as Windows-1252.",),
        # decoded line by line: both rows are right
        contacts={"latin@example.com": {"first_name": "Zoë"}, "utf8@example.com": {"first_name": "Zoë"}},
    ),
    "encoding_utf8_one_windows1252_row.csv": Imports(
        6,
        warnings=("encoding_utf8_one_windows1252_row.csv: row 5 is not UTF-8; read as Windows-1252.",),
        contacts={
            "u0@example.com": {"first_name": "José", "last_name": "García"},
            "w1252@example.com": {"first_name": "François", "last_name": "Œuvre – “Q”"},
            "u4@example.com": {"first_name": "Renée", "last_name": "Dvořák"},
        },
    ),
    "encoding_utf8_bom.csv": Imports(1, contacts={"bom@example.com": {"first_name": "Bom"}}),
    "encoding_bom_only.csv": Fails(ContactFileError, ("the file is empty",)),
    # structure
    "empty.csv": Fails(ContactFileError, ("the file is empty",)),
    "no_email_column.csv": Fails(ContactFileError, ("no email column among ['name', 'city']",)),
    "header_only.csv": Imports(0),
    "blank_lines.csv": Imports(3, rejects=((9, "email", INVALID),), blank=6),
    "cr_line_endings.csv": Imports(3, rejects=((3, "email", INVALID),)),
    "header_row_repeated.csv": Imports(4, rejects=((4, "email", INVALID),), values={4: "email"}),
    "quote_unterminated.csv": Fails(ContactFileError, ("row 3 (line", "a quoted field is never closed")),
    "quote_stray.csv": Fails(ContactFileError, ("row 3 (line 3)", "',' expected after '\"'", "must be doubled")),
    "embedded_newlines.csv": Imports(
        5,
        rejects=((4, "email", INVALID), (6, "email", INVALID)),
        values={4: "bad @example.com"},
        contacts={"n1@example.com": {"first_name": "Ann"}, "n2@example.com": {"first_name": "Bob by"}},
    ),
    "mixed_delimiters.csv": Fails(
        ContactFileError, ("row 3: 1 fields where the header has 3", "column 'first_name'", "check the delimiter")
    ),
    "ragged_too_many_fields.csv": Fails(
        ContactFileError, ("row 3: 5 fields where the header has 3", "past the last column 'last_name'")
    ),
    "ragged_too_few_fields.csv": Fails(
        ContactFileError, ("row 3: 2 fields where the header has 3", "no value for column 'last_name'")
    ),
    "duplicate_header_names.csv": Fails(
        ContactFileError, ("header: columns 'first_name' and 'first_name' both map to 'first_name'",)
    ),
    "headers_same_field.csv": Fails(
        ContactFileError, ("header: columns 'Email Address' and 'E-mail' both map to 'email'",)
    ),
    # values
    "duplicate_emails_case.csv": Imports(
        5,
        rejects=((4, "email", DUPLICATE), (5, "email", DUPLICATE), (6, "email", DUPLICATE)),
        duplicates=3,
        values={4: "DUP@EXAMPLE.COM", 5: "Dup@Example.com", 6: "dup@example.com"},
        contacts={"dup@example.com": {"first_name": "First"}},
    ),
    "formula_injection.csv": Imports(
        6,
        rejects=tuple((row, "email", INVALID) for row in (2, 3, 4, 5)),
        values={
            2: "'=cmd|' /C calc'!A0",
            3: "'+SUM(1+1)*cmd|' /C calc'!A0",
            4: "'-2+3+cmd|' /C calc'!A0",
            5: "'@SUM(1+1)*cmd|' /C calc'!A0",
        },
        contacts={"ok@example.com": {"first_name": '=HYPERLINK("http://evil.example","x")'}},
    ),
    "control_characters.csv": Imports(
        3,
        rejects=((3, "email", INVALID),),
        values={3: "ctl2\x0b@example.com"},
        contacts={"ctl1@example.com": {"first_name": "An\x07n", "last_name": "Le\x1be"}},
    ),
    "nul_bytes.csv": Fails(ContactFileError, ("row 3 (line 3), column 'first_name': NUL characters",)),
    "v2_headings.csv": Imports(
        3,
        rejects=((3, "Birthday_Month", "birthday_month must be between 1 and 12"),),
        warnings=("columns not imported: Favourite Colour",),
        contacts={"v2a@example.com": {"first_name": "Ann", "job_title": "Engineer", "company_name": "Acme"}},
    ),
    "excel_sep_line.csv": Imports(
        3,
        rejects=((3, "email", INVALID),),  # the header is row 1, as Excel (which hides the sep= line) shows it
        warnings=("excel_sep_line.csv: the first line 'sep=;' (Excel's delimiter hint) sets the delimiter ';'",),
        contacts={
            "sep1@example.com": {"first_name": "Ann", "last_name": "Lee"},
            "sep3@example.com": {"first_name": "Zoë"},
        },
    ),
    "outlook_export.csv": Imports(
        3,
        rejects=((4, "E-mail Address", INVALID),),
        warnings=(
            "outlook_export.csv: columns not imported: Middle Name, Suffix, Department, Business Phone, "
            "E-mail Display Name.",
            TITLE_SHADOWED,
        ),
        # Outlook's "Title" is a salutation; "Job Title" fills job_title
        contacts={
            "ol1@example.com": {"first_name": "Ann", "job_title": "Engineer", "company_name": "Acme"},
            "ol2@example.com": {"last_name": "Ray", "job_title": None},
        },
    ),
    "v2_headings_phones.csv": Fails(
        ContactFileError,
        ("header: contacts_file_import takes no 'home_phone', 'work_phone' column", "Nothing was sent"),
    ),
    "invalid_birthdays.csv": Imports(
        8,
        rejects=(
            (2, "birthday_month", "birthday_month must be between 1 and 12"),
            (3, "birthday_day", "birthday_day 30 is not a day of month 2"),
            (4, "birthday_month", "birthday_month and birthday_day must be given together"),
            (5, "birthday_month", "birthday_month must be a whole number"),
            (6, "birthday_month", "birthday_month must be between 1 and 12"),
            (7, "birthday_day", "birthday_day 31 is not a day of month 4"),
            (9, "birthday_day", "birthday_day must be between 1 and 31"),
        ),
    ),
    "invalid_anniversaries.csv": Imports(
        9,
        rejects=(
            (2, "anniversary", "anniversary is not a calendar date"),
            (3, "anniversary", "anniversary year must be after 1900"),
            (4, "anniversary", "anniversary is not a calendar date"),
            (5, "anniversary", "anniversary is not a calendar date"),
            (6, "anniversary", "anniversary is more than 10 years in the future"),
            (7, "anniversary", "anniversary must be a date as MM/DD/YYYY"),
        ),
    ),
    "overlong_fields.csv": Imports(
        6,
        rejects=(
            (2, "first_name", "first_name is longer than 50 characters"),
            (3, "street", "street is longer than 255 characters"),
            (4, "email", "email is longer than 50 characters"),
            (5, "state", "state is longer than 50 characters"),
            (6, "cf:note", "cf:note is longer than 255 characters"),
        ),
        options=CREATE_FIELDS,
    ),
    "too_many_custom_fields.csv": Imports(
        3, rejects=((2, "cf:field_26", "26 custom fields; a contact may have at most 25"),), options=CREATE_FIELDS
    ),
    "unknown_custom_field.csv": Fails(
        MissingCustomFieldsError, ("header: column(s) 'cf:shoe_size' name custom field(s) the account does not have",)
    ),
    "invalid_sms_numbers.csv": Imports(
        6,
        rejects=tuple((row, "sms_number", SMS) for row in (2, 3, 4, 5, 7)),
        values={3: "'+44 20 7946 0958"},
        options={"sms_permission_to_send": "not_set"},
    ),
    "whitespace_emails.csv": Imports(
        6,
        rejects=(
            (2, "email", NO_EMAIL),
            (3, "email", NO_EMAIL),
            (4, "email", NO_EMAIL),
            (6, "email", INVALID),
            (7, "email", INVALID),
        ),
        blank=1,
        contacts={"ws@example.com": {"first_name": "Padded"}},
    ),
    "international_emails.csv": Imports(
        6,
        rejects=tuple((row, "email", INVALID) for row in (2, 3, 5, 7)),
        values={2: "josé@example.com", 5: "用户@例子.广告"},
        contacts={"user@xn--bcher-kva.de": {"first_name": "Punycode"}, "ascii@example.com": {"last_name": "李"}},
    ),
    # JSON and JSON Lines
    "json_object_not_array.json": Imports(1, warnings=(WRAPPED,), contacts={"o1@example.com": {}}),
    "json_object_one_line.json": Imports(1, warnings=(WRAPPED,), contacts={"o2@example.com": {}}),
    "json_object_two_arrays.json": Fails(
        ContactFileError,
        (
            "the top level is an object with keys contacts, unsubscribed; 'contacts' and 'unsubscribed' both hold "
            "arrays of objects: set json_array_key to the key holding the contacts",
        ),
    ),
    "json_unmapped_keys.json": Imports(
        3,
        warnings=("json_unmapped_keys.json: keys not imported: tags, Notes, source.", TITLE_SHADOWED),
        contacts={"uk1@example.com": {"first_name": "Ann"}, "uk3@example.com": {"job_title": "CEO"}},
    ),
    "json_number.json": Fails(ContactFileError, ("line 1 is a JSON int, not an object",)),
    "jsonl_one_bad_line.jsonl": Fails(ContactFileError, ("line 3, column 50: invalid JSON",)),
    "json_array_non_object.json": Fails(ContactFileError, ("record 2 is a JSON int, not an object",)),
    "json_truncated.json": Fails(ContactFileError, ("record 2: invalid JSON (Unterminated string)", "truncated?")),
    "json_nested_values.json": Imports(
        5,
        rejects=(
            (2, "first_name", NOT_TEXT),
            (3, "address", NOT_TEXT),
            (4, "email", NOT_TEXT),
            (5, "last_name", NOT_TEXT),
        ),
        warnings=("json_nested_values.json: keys not imported: notes.",),
    ),
    "json_nesting_too_deep.json": Fails(ContactFileError, ("record 1: the JSON is nested too deeply to read",)),
    "jsonl_nesting_too_deep.jsonl": Fails(ContactFileError, ("line 2: the JSON is nested too deeply to read",)),
    # generated at test time (see GENERATED)
    "big_field_10mb.csv": Fails(
        ContactFileError, ("row 3 (line 3): a field is longer than 131,072 characters, in column 'first_name'",)
    ),
    "big_field_10mb.jsonl": Imports(
        3,
        rejects=((2, "first_name", "first_name is longer than 50 characters"),),
        values={2: "x" * 1000 + "... (10,000,000 characters)"},  # cut, so csv and spreadsheets can read the file
    ),
    "over_40000_rows.csv": Imports(
        40_005,
        rejects=((20_002, "email", INVALID), (40_006, "email", DUPLICATE)),
        duplicates=1,
        requests=2,
        upload_contacts=(39_999, 4),
    ),
    "over_40000_rows.jsonl": Imports(40_001, requests=2, upload_contacts=(40_000, 1)),
    "over_4mb.csv": Imports(18_000, requests=2),
    "over_4mb.json": Imports(18_000, requests=2),
}


# -- the big files, written at test time -------------------------------------------------------------

BIG = 10_000_000  # characters


def _big_field_csv(path: Path) -> None:
    big = "x" * BIG
    path.write_text(f"email,first_name,last_name\r\nbig1@example.com,Ann,Lee\r\nbig2@example.com,{big},Ray\r\n")


def _big_field_jsonl(path: Path) -> None:
    records = [
        {"email": "big1@example.com"},
        {"email": "big2@example.com", "first_name": "x" * BIG},
        {"email": "b3@example.com"},
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def _over_40000_rows_csv(path: Path) -> None:
    emails = [f"row{i}@example.com" for i in range(40_005)]
    emails[20_000] = "not-an-email"  # row 20,002
    emails[-1] = "ROW0@EXAMPLE.COM"  # row 40,006: row 2 in another case
    path.write_text("email,first_name\r\n" + "".join(f"{email},N{i}\r\n" for i, email in enumerate(emails)))


def _over_40000_rows_jsonl(path: Path) -> None:
    path.write_text("".join(f'{{"email": "j{i}@example.com"}}\n' for i in range(40_001)))


def _wide_record(i: int) -> dict[str, str]:
    return {"email": f"wide{i:05d}@example.com", "first_name": f"F{i:05d}", "street": f"{i} " + "S" * 230}


def _over_4mb_csv(path: Path) -> None:
    rows = (",".join(_wide_record(i).values()) + "\r\n" for i in range(18_000))
    path.write_text("email,first_name,street\r\n" + "".join(rows))


def _over_4mb_json(path: Path) -> None:
    path.write_text(json.dumps([_wide_record(i) for i in range(18_000)]))


GENERATED: dict[str, Callable[[Path], None]] = {
    "big_field_10mb.csv": _big_field_csv,
    "big_field_10mb.jsonl": _big_field_jsonl,
    "over_40000_rows.csv": _over_40000_rows_csv,
    "over_40000_rows.jsonl": _over_40000_rows_jsonl,
    "over_4mb.csv": _over_4mb_csv,
    "over_4mb.json": _over_4mb_json,
}


# -- running one file ----------------------------------------------------------------------------


@pytest.fixture
def hook(cc_connection, monkeypatch) -> ConstantContactHook:
    # the session sandbox has its rate limits off; so has the client (a connection without the extra keeps 4/s)
    extra = {**cc_connection["extra"], "requests_per_second": 0}
    monkeypatch.setenv(CONNECTION_ENV, json.dumps({**cc_connection, "extra": extra}))
    monkeypatch.setattr(ConstantContactHook, "default_backoff_base", 0.01)
    return ConstantContactHook()


@pytest.fixture
def uploads(monkeypatch) -> list[tuple[int, int]]:
    """``(bytes, contacts)`` of every import request the operators post, read from what is sent."""
    sent: list[tuple[int, int]] = []
    submit_csv, submit_json = ConstantContactHook.submit_csv_import, ConstantContactHook.submit_json_import

    def record_csv(self, path, *args, **kwargs):
        data = Path(path).read_bytes()
        sent.append((len(data), data.count(b"\n") - 1))  # one line a contact (no value spans lines), and the header
        return submit_csv(self, path, *args, **kwargs)

    def record_json(self, body, *args, **kwargs):
        sent.append((len(body), len(json.loads(body)["import_data"])))
        return submit_json(self, body, *args, **kwargs)

    monkeypatch.setattr(ConstantContactHook, "submit_csv_import", record_csv)
    monkeypatch.setattr(ConstantContactHook, "submit_json_import", record_json)
    return sent


def corpus_path(name: str, tmp_path: Path) -> Path:
    if name in GENERATED:
        path = tmp_path / name
        GENERATED[name](path)
        return path
    return CORPUS / name


def import_task(path: Path, list_id: str, rejects: Path, options: dict[str, Any]):
    operator = ConstantContactImportCsvOperator if path.suffix == ".csv" else ConstantContactImportJsonOperator
    return operator(
        task_id="import",
        path=str(path),
        list_ids=[list_id],
        rejects_path=str(rejects),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        **options,
    )


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name, hook, cc_sandbox, uploads, tmp_path):
    expected = EXPECTED[name]
    path = corpus_path(name, tmp_path)
    list_id = hook.create_list("Corpus")["list_id"]
    rejects_path = tmp_path / "rejects.csv"
    task = import_task(path, list_id, rejects_path, expected.options)
    before = sandbox_stats(cc_sandbox).get("import_posts", 0)

    if isinstance(expected, Fails):
        with pytest.raises(Exception) as info:  # noqa: B017 - the exact type is asserted below
            task.execute({"ti": RecordingTaskInstance()})
        error = info.value
        assert type(error) is expected.error, f"{type(error).__name__}: {error}"
        assert isinstance(error, ValueError)
        for part in (f"{name}:", *expected.parts):
            assert part in str(error), f"{part!r} not in {str(error)!r}"
        assert uploads == [] and sandbox_stats(cc_sandbox).get("import_posts", 0) == before, "uploaded before failing"
        return

    summary = task.execute({"ti": RecordingTaskInstance()})
    stats = sandbox_stats(cc_sandbox)
    # the local accounting
    assert summary["rows_read"] == expected.rows_read
    assert summary["rows_rejected"] == expected.rows_rejected
    assert summary["rows_sent"] == expected.rows_sent
    assert summary["rows_read"] == summary["rows_rejected"] + summary["rows_sent"]
    assert (summary["rows_blank"], summary["duplicates"]) == (expected.blank, expected.duplicates)
    for warning in expected.warnings:
        assert any(warning in text for text in summary["warnings"]), (warning, summary["warnings"])
    if not expected.warnings:
        assert summary["warnings"] == []
    # what was sent: every request within the API's limits, none truncated
    requests = expected.requests if expected.requests is not None else int(expected.rows_sent > 0)
    assert summary["requests"] == len(uploads) == requests
    assert stats.get("import_posts", 0) - before == requests
    assert sum(contacts for _, contacts in uploads) == expected.rows_sent
    assert all(size <= MAX_UPLOAD_BYTES and contacts <= MAX_UPLOAD_CONTACTS for size, contacts in uploads), uploads
    if expected.upload_contacts is not None:
        assert tuple(contacts for _, contacts in uploads) == expected.upload_contacts
    assert (stats.get("truncations", 0), stats.get("contacts_dropped", 0)) == (0, 0)
    # the wait: every row sent is imported or rejected by the API (none is, after the local checks)
    if requests:
        assert summary["rows_imported"] + summary["rows_rejected_by_api"] == summary["rows_sent"]
        assert summary["rows_rejected_by_api"] == 0, summary["activities"]
    else:
        assert summary["activity_ids"] == []
    # the rejects file: one line per problem, formulas neutralised
    rejects = read_rejects(rejects_path)
    assert len(rejects) == len(expected.rejects), [(r["row_number"], r["column"], r["reason"]) for r in rejects]
    for line, (row, column, reason) in zip(rejects, expected.rejects, strict=True):
        assert (int(line["row_number"]), line["column"]) == (row, column)
        assert reason in line["reason"], (row, line["reason"])
        assert not line["value"].startswith(FORMULA_PREFIXES) and not line["column"].startswith(FORMULA_PREFIXES)
    for row, value in expected.values.items():
        assert next(line["value"] for line in rejects if int(line["row_number"]) == row) == value
    for email, fields in expected.contacts.items():
        contact = hook.find_contact(email)
        assert contact is not None, email
        assert {key: contact.get(key) for key in fields} == fields


# -- the table ----------------------------------------------------------------------------------------


def table_rows() -> dict[str, str]:
    """Return ``{file name: its line}`` for the rows of the README table."""
    rows: dict[str, str] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([^`]+)`", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} has two rows"
            rows[match.group(1)] = line
    return rows


def test_the_table_lists_every_file_and_every_file_is_tested():
    rows = table_rows()
    on_disk = {path.name for path in CORPUS.iterdir()} - {"README.md"}
    assert sorted(on_disk - rows.keys()) == [], "files in tests/data/bad without a row in its README table"
    committed_rows = {name for name, line in rows.items() if "(generated)" not in line}
    assert sorted(committed_rows - on_disk) == [], "rows for files that are not in tests/data/bad"
    assert {name for name, line in rows.items() if "(generated)" in line} == GENERATED.keys()
    assert rows.keys() == EXPECTED.keys()
    assert len(on_disk) >= 30
    assert sum(path.stat().st_size for path in CORPUS.iterdir()) < 250_000, "keep the committed corpus small"


def test_the_table_says_which_outcome():
    for name, line in table_rows().items():
        outcome = line.rsplit("|", 2)[-2].strip()
        kind = (
            "error"
            if isinstance(EXPECTED[name], Fails)
            else ("success" if EXPECTED[name].rows_read == 0 else "rejects")
        )
        assert outcome.startswith(f"{kind}:"), (name, outcome)
