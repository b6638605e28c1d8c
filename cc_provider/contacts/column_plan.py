"""
Column plans: how one header maps to import columns and which checks its rows need.

A plan is built once per header (a CSV file, or one set of record keys), so the per-row work is
picking, stripping and running only the rules the present columns need.

When several columns map to one import field (Outlook exports both "Title", a salutation, and
"Job Title"), the strongest claim fills it and the others are not imported (see
:attr:`ColumnPlan.shadowed_columns`; the caller warns, naming them):

1. a ``column_map`` entry wins over any heading;
2. a heading that is the field's own name (``job_title``, "Job Title", ``cf:size``) wins over an
   alias or a V2 heading ("Title", "Position", "Custom Field 1");
3. two claims of the same strength are ambiguous: an error names both columns;
4. ``email`` and ``sms_number`` decide who a contact is, so two columns for one are always an error;
5. the street2 fields join their columns (V2's "Address Line 2" and "Address Line 3") instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from cc_provider.contacts.fields import (
    CUSTOM_FIELD_PREFIX,
    DEFAULT_V2_CUSTOM_FIELD,
    JOIN_SEPARATOR,
    JOINED_FIELDS,
    MAX_CUSTOM_FIELDS,
    check_import_key,
    import_name,
    is_custom_field,
    max_length,
    normalize_name,
)
from cc_provider.contacts.rejects import Rejected
from cc_provider.contacts.rules import (
    BIRTHDAY_FORMS,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    INVALID_BIRTHDAY,
    MISSING_EMAIL,
    REPEATING_VALUE_KEYS,
    TOO_LONG,
    TOO_MANY_CUSTOM_FIELDS,
    InvalidValue,
    birthday_pair_problem,
    value_rules,
)

INT_FIELDS = frozenset({"birthday_month", "birthday_day"})
MISSING_EMAIL_REASON = "no email address (and no sms_number)"
#: No import field may be longer than this but streets and custom fields (255), and no checked value is.
_COMMON_LIMIT = 50
#: Most distinct valid values remembered per rule (dates and birthdays repeat; this bounds the memory).
REMEMBERED_VALUES = 20_000
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class ColumnPlanError(ValueError):
    """A header cannot be imported as it is (e.g. two columns for one import field)."""


#: Import keys that identify a contact: two columns for one are always an error.
IDENTITY_KEYS = frozenset({"email", "sms_number"})
#: How strongly a column claims its import field (see the module docstring).
ALIAS, OWN_NAME, MAPPED = 0, 1, 2


def _claim_strength(name: str, key: str, explicit: bool) -> int:
    """Return :data:`MAPPED` for a ``column_map`` entry, :data:`OWN_NAME` for the field's name, else :data:`ALIAS`."""
    if explicit:
        return MAPPED
    if is_custom_field(key):
        return OWN_NAME if name[: len(CUSTOM_FIELD_PREFIX)].lower() == CUSTOM_FIELD_PREFIX else ALIAS
    return OWN_NAME if normalize_name(name) == key else ALIAS


def shadowed_message(
    source: str, column: str, winner: str, key: str, column_map: Mapping[str, str | None] | None
) -> str:
    """Return the warning for a column not imported because ``winner`` fills its field ``key``."""
    why = (
        "column_map wins over a heading"
        if column_map and winner in column_map
        else "a heading naming the field itself wins over an alias"
    )
    return (
        f"{source}: {column!r} is not imported: {winner!r} fills {key} ({why}); to import {column!r} as well, "
        "map it to another field with column_map."
    )


def _picker(indexes: Sequence[int], width: int) -> Callable[[Sequence[Any]], Sequence[Any]]:
    if list(indexes) == list(range(width)):
        return lambda fields: fields
    if not indexes:
        return lambda fields: ()
    if len(indexes) == 1:
        index = indexes[0]
        return lambda fields: (fields[index],)
    return itemgetter(*indexes)


class ColumnPlan:
    """
    The import columns of one source header and the checks their values need.

    :param header: source column names, in order.
    :param column_map: source column -> import name (``None`` drops it); wins over the built-in names.
    :param v2_custom_field: template for V2 "Custom Field N" headings (``None``: drop them).
    :param today: the date the anniversary's "10 years in the future" rule counts from.
    """

    def __init__(
        self,
        header: Sequence[str],
        *,
        column_map: Mapping[str, str | None] | None = None,
        v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
        today: date | None = None,
    ) -> None:
        self.header = tuple(str(name) for name in header)
        claims: list[tuple[int, str, int]] = []  # (source index, import key, strength) of each mapped column
        ignored: list[str] = []
        for index, name in enumerate(self.header):
            key = import_name(name, column_map, v2_custom_field=v2_custom_field)
            if key is None:
                ignored.append(name)
                continue
            explicit = column_map is not None and name in column_map
            if explicit:
                check_import_key(key)
            claims.append((index, key, _claim_strength(name, key, explicit)))
        shadowed = self._settle(claims)
        columns: list[str] = []
        sources: list[int] = []
        joins: list[tuple[int, int]] = []
        dropped = {index for index, _, _ in shadowed}
        for index, key, _ in claims:
            if index in dropped:
                continue
            if key in columns:  # a joined field (the others were settled above)
                joins.append((columns.index(key), index))
                continue
            columns.append(key)
            sources.append(index)
        #: ``(column, winning column, import key)`` for each column not imported because another fills its field.
        self.shadowed_columns: tuple[tuple[str, str, str], ...] = tuple(
            (self.header[index], self.header[winner], key) for index, winner, key in shadowed
        )
        #: Import names of the output columns, in source order.
        self.columns: tuple[str, ...] = tuple(columns)
        #: Source column index of each output column.
        self.sources: tuple[int, ...] = tuple(sources)
        #: Source columns that are not imported.
        self.ignored_columns: tuple[str, ...] = tuple(ignored)
        #: Custom field names (without ``cf:``) the columns use.
        self.custom_fields: frozenset[str] = frozenset(
            key[len(CUSTOM_FIELD_PREFIX) :] for key in columns if is_custom_field(key)
        )
        self.email_index = columns.index("email") if "email" in columns else None
        self.sms_index = columns.index("sms_number") if "sms_number" in columns else None
        self._joins = tuple(joins)
        #: Source column indexes whose values are read (the columns and the extra joined ones).
        self.read_indexes: tuple[int, ...] = tuple(sources) + tuple(source for _, source in joins)
        self._pick = _picker(sources, len(self.header))
        self._pick_all = list(sources) == list(range(len(self.header)))
        rules = value_rules(today)
        #: Every rule, for :meth:`problems`.
        self._rules = tuple((i, rules[key]) for i, key in enumerate(columns) if key in rules)
        # The fast path (:meth:`passes`): rules on values that are mostly distinct (email, sms_number) ...
        self._unique_value_rules = tuple(
            (i, rules[key])
            for i, key in enumerate(columns)
            if key in rules and key not in REPEATING_VALUE_KEYS and key != "email"  # email: checked inline
        )
        # ... rules on dates, which repeat: their valid results are remembered per plan ...
        self._date_rules: tuple[tuple[int, dict[str, Any], Callable[[str], Any]], ...] = tuple(
            (i, {}, rules[key])
            for i, key in enumerate(columns)
            if key in REPEATING_VALUE_KEYS and key not in INT_FIELDS
        )
        # ... and birthdays, looked up as (month, day) pairs.
        month = columns.index("birthday_month") if "birthday_month" in columns else None
        day = columns.index("birthday_day") if "birthday_day" in columns else None
        self._birthday = (month, day)
        self._get_birthday = itemgetter(month, day) if month is not None and day is not None else None
        self._lone_birthday_index = (month if day is None else day) if (month is None) != (day is None) else None
        self._identity_indexes = tuple(i for i in (self.email_index, self.sms_index) if i is not None)
        self._limits = tuple((i, limit) for i, key in enumerate(columns) if (limit := max_length(key)) is not None)
        self._custom_indexes = tuple(i for i, key in enumerate(columns) if is_custom_field(key))
        self._int_keys = tuple(key for key in columns if key in INT_FIELDS)

    def _settle(self, claims: list[tuple[int, str, int]]) -> list[tuple[int, int, str]]:
        """Apply the module's rule to columns claiming one field; return the losers as ``(index, winner's, key)``."""
        by_key: dict[str, list[tuple[int, int]]] = {}
        for index, key, strength in claims:
            by_key.setdefault(key, []).append((index, strength))
        shadowed: list[tuple[int, int, str]] = []
        for key, group in by_key.items():
            if len(group) == 1 or key in JOINED_FIELDS:
                continue
            best = max(strength for _, strength in group)
            top = [index for index, strength in group if strength == best]
            if len(top) > 1 or key in IDENTITY_KEYS:
                first, second = (self.header[i] for i in (top if len(top) > 1 else [i for i, _ in group])[:2])
                why = (
                    f"{key} decides who a contact is, so neither is dropped"
                    if key in IDENTITY_KEYS
                    else "column_map beats a heading, and a heading naming the field itself beats an alias such as "
                    "'Title'; these two tie"
                )
                raise ColumnPlanError(
                    f"columns {first!r} and {second!r} both map to {key!r}; drop one or map it elsewhere with "
                    f"column_map ({why})"
                )
            shadowed += [(index, top[0], key) for index, _ in group if index != top[0]]
        return sorted(shadowed)

    @property
    def has_identity_column(self) -> bool:
        """Tell whether any column can carry a contact's identity (``email`` or ``sms_number``)."""
        return self.email_index is not None or self.sms_index is not None

    def source_column(self, index: int) -> str:
        """Return the source column name of output column ``index``."""
        return self.header[self.sources[index]]

    def clean(self, fields: Sequence[str], line_breaks: bool = False) -> list[str]:
        """Pick the imported fields of a source row, stripped (and with line breaks made spaces if asked)."""
        values = list(map(str.strip, fields if self._pick_all else self._pick(fields)))
        if line_breaks and ("\n" in (joined := "".join(values)) or "\r" in joined):
            values = [_LINE_BREAKS.sub(" ", v) if ("\n" in v or "\r" in v) else v for v in values]
        if self._joins:
            self._join(fields, values, line_breaks)
        return values

    def _join(self, fields: Sequence[str], values: list[str], line_breaks: bool) -> None:
        for target, source in self._joins:
            extra = fields[source].strip()
            if line_breaks:
                extra = _LINE_BREAKS.sub(" ", extra)
            if extra:
                values[target] = values[target] + JOIN_SEPARATOR + extra if values[target] else extra

    def passes(self, values: list[str]) -> bool:
        """
        Normalise ``values`` in place and tell whether they surely pass every check (the fast path).

        ``False`` means "look closer": :meth:`problems` is the authority, and may find nothing
        (e.g. a birthday month written ``007``), in which case the row is valid.
        """
        if self.email_index is not None:  # the one rule every row runs, inlined: check_email's test
            email = values[self.email_index]
            if email and (len(email) > EMAIL_MAX_LENGTH or EMAIL_PATTERN.fullmatch(email) is None):
                return False
        try:
            for index, rule in self._unique_value_rules:
                value = values[index]
                if value:
                    values[index] = rule(value)
            for index, known, rule in self._date_rules:
                value = values[index]
                if value:
                    result = known.get(value)
                    if result is None:
                        result = rule(value)
                        if len(known) < REMEMBERED_VALUES:
                            known[value] = result
                    values[index] = result
        except InvalidValue:
            return False
        for index in self._identity_indexes:
            if values[index]:
                break
        else:
            return False
        if self._get_birthday is not None:
            birthday = self._get_birthday(values)
            checked = BIRTHDAY_FORMS.get(birthday)
            if checked is None:
                return False
            if checked != birthday:
                values[self._birthday[0]], values[self._birthday[1]] = checked  # type: ignore[index]
        elif self._lone_birthday_index is not None and values[self._lone_birthday_index]:
            return False
        # checked values are at most 50 long, so one max() over the row clears every length limit at once
        if values and max(map(len, values)) > _COMMON_LIMIT:
            if any(len(values[i]) > limit for i, limit in self._limits):
                return False
        if len(self._custom_indexes) > MAX_CUSTOM_FIELDS:
            if sum(1 for i in self._custom_indexes if values[i]) > MAX_CUSTOM_FIELDS:
                return False
        return True

    def problems(self, row_number: int, values: list[str]) -> list[Rejected]:
        """Return every problem of a row, one :class:`Rejected` each (empty when the row passes)."""
        found: list[Rejected] = []
        failed: set[int] = set()
        for index, rule in self._rules:
            value = values[index]
            if value:
                try:
                    values[index] = rule(value)
                except InvalidValue as err:
                    failed.add(index)
                    found.append(self._reject(row_number, index, value, err.reason, err.code))
        email, sms = self.email_index, self.sms_index
        if not ((email is not None and values[email]) or (sms is not None and values[sms])):
            missing = email if email is not None else sms
            column = self.source_column(missing) if missing is not None else "email"
            found.append(Rejected(row_number, column, "", MISSING_EMAIL_REASON, MISSING_EMAIL))
        month_index, day_index = self._birthday
        if self._birthday != (None, None) and not failed.intersection(self._birthday):
            month, day = (values[i] if i is not None else "" for i in self._birthday)
            problem = birthday_pair_problem(month, day)
            if problem:
                culprit = day_index if day_index is not None and values[day_index] else month_index
                if culprit is not None:
                    found.append(self._reject(row_number, culprit, values[culprit], problem, INVALID_BIRTHDAY))
        for index, limit in self._limits:
            if index not in failed and len(values[index]) > limit:
                reason = f"{self.columns[index]} is longer than {limit} characters"
                found.append(self._reject(row_number, index, values[index], reason, TOO_LONG))
        present = [i for i in self._custom_indexes if values[i]]
        if len(present) > MAX_CUSTOM_FIELDS:
            index = present[MAX_CUSTOM_FIELDS]
            reason = f"{len(present)} custom fields; a contact may have at most {MAX_CUSTOM_FIELDS}"
            found.append(self._reject(row_number, index, values[index], reason, TOO_MANY_CUSTOM_FIELDS))
        return found

    def _reject(self, row_number: int, index: int, value: str, reason: str, code: str) -> Rejected:
        return Rejected(row_number, self.source_column(index), value, reason, code)

    def record(self, values: Sequence[str]) -> dict[str, Any]:
        """Return the ``contacts_json_import`` record of checked values: blanks left out, birthdays as ints."""
        record: dict[str, Any] = {key: value for key, value in zip(self.columns, values, strict=True) if value}
        for key in self._int_keys:
            if key in record:
                record[key] = int(record[key])
        return record
