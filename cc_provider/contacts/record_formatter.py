"""
Turn mappings (JSON records, query rows) into ``contacts_json_import`` records, rejecting what cannot be imported.

Records need not share their keys, so each distinct set of keys gets its own
:class:`~cc_provider.contacts.column_plan.ColumnPlan` (a CSV file has one, for its header).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cc_provider.contacts.column_plan import ColumnPlan, ColumnPlanError, shadowed_message
from cc_provider.contacts.errors import ContactFileError
from cc_provider.contacts.fields import DEFAULT_V2_CUSTOM_FIELD
from cc_provider.contacts.rejects import Rejected
from cc_provider.contacts.rules import NOT_TEXT

#: Distinct key sets whose plans are kept; records with more varied keys rebuild plans as they go.
MAX_CACHED_PLANS = 256
#: Keys remembered for the warnings about keys not imported (the first few are named, the rest counted).
MAX_NOTED_KEYS = 1000
NAMED_KEYS = 20


class NotText(ValueError):
    """A record value that is neither text, a number nor a date (e.g. a list)."""


def as_text(value: Any) -> str:
    """
    Return a record value as import text.

    ``None`` is blank; whole numbers lose their ``.0``; dates become ``YYYY-MM-DD``. Lists, objects
    and other types raise :class:`NotText`.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float | Decimal):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise NotText(type(value).__name__)


class RecordFormatter:
    """
    Check mappings (JSON records, query rows) by the API's rules, with one plan per distinct set of keys.

    :param column_map: source key -> import name (``None`` drops it).
    :param v2_custom_field: template for V2 "Custom Field N" keys (``None``: drop them).
    :param today: the date the anniversary rules count from (default: the current date).
    :param source_name: how error messages name the source (a file name, or ``records``).
    """

    def __init__(
        self,
        column_map: Mapping[str, str | None] | None = None,
        *,
        v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
        today: date | None = None,
        source_name: str = "records",
    ) -> None:
        self.column_map = column_map
        self.v2_custom_field = v2_custom_field
        self.today = today
        self.source_name = source_name
        self._plans: dict[tuple[Any, ...], ColumnPlan] = {}
        self._custom_fields: frozenset[str] = frozenset()
        # for notes(): keys not imported, keys another key for the same field won over, column_map keys seen
        self._ignored: dict[str, None] = {}
        self._shadowed: dict[tuple[str, str, str], None] = {}
        self._mapped_seen: set[str] = set()

    def plan_for(self, row_number: int, row: Mapping[str, Any]) -> ColumnPlan:
        """Return the plan for the keys of ``row``; raise :class:`ContactFileError` if they are ambiguous."""
        keys = tuple(row)
        plan = self._plans.get(keys)
        if plan is None:
            try:
                plan = ColumnPlan(
                    keys, column_map=self.column_map, v2_custom_field=self.v2_custom_field, today=self.today
                )
            except ColumnPlanError as err:
                raise ContactFileError(f"{self.source_name}: row {row_number}: {err}.") from None
            if len(self._plans) < MAX_CACHED_PLANS:
                self._plans[keys] = plan
            self._custom_fields |= plan.custom_fields
            self._note(plan)
        return plan

    def _note(self, plan: ColumnPlan) -> None:
        for key in plan.ignored_columns:
            if len(self._ignored) < MAX_NOTED_KEYS and key not in (self.column_map or ()):  # not asked to drop
                self._ignored.setdefault(key)
        for shadowed in plan.shadowed_columns:
            if len(self._shadowed) < NAMED_KEYS:
                self._shadowed.setdefault(shadowed)
        if self.column_map:
            self._mapped_seen.update(key for key in plan.header if key in self.column_map)

    def notes(self) -> list[str]:
        """
        Return the warnings about the keys seen so far, one line each, like a CSV header's: keys not
        imported, keys not imported because another fills their field, ``column_map`` keys never seen.
        """
        found = []
        if self._ignored:
            names = list(self._ignored)
            listed = ", ".join(names[:NAMED_KEYS])
            if len(names) > NAMED_KEYS:
                more = len(names) - NAMED_KEYS
                listed += f" and {'at least ' if len(names) >= MAX_NOTED_KEYS else ''}{more:,} more"
            found.append(f"{self.source_name}: keys not imported: {listed}.")
        for column, winner, key in self._shadowed:
            found.append(shadowed_message(self.source_name, column, winner, key, self.column_map))
        unused = sorted(set(self.column_map or ()) - self._mapped_seen)
        if unused:
            found.append(f"{self.source_name}: column_map names keys no record has: {', '.join(unused)}.")
        return found

    def custom_fields_seen(self) -> frozenset[str]:
        """Return the custom field names (without ``cf:``) of the keys seen so far."""
        return self._custom_fields

    def check(self, row_number: int, row: Mapping[str, Any]) -> tuple[ColumnPlan, list[str], list[Rejected]]:
        """Return the row's plan, its checked values (aligned with ``plan.columns``) and its problems (if any)."""
        plan = self.plan_for(row_number, row)
        fields = list(row.values())
        for index in plan.read_indexes:
            value = fields[index]
            if type(value) is not str:
                try:
                    fields[index] = as_text(value)
                except NotText as err:
                    reason = f"must be text, a number or a date, not {err}"
                    return plan, [], [Rejected(row_number, plan.header[index], str(value), reason, NOT_TEXT)]
        values = plan.clean(fields, line_breaks=True)
        if plan.passes(values):
            return plan, values, []
        return plan, values, plan.problems(row_number, values)


def format_record(
    row_number: int,
    row: Mapping[str, Any],
    column_map: Mapping[str, str | None] | None = None,
    *,
    v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
    today: date | None = None,
) -> dict[str, Any] | Rejected:
    """
    Map one source row to an import record, or return its first problem.

    Blank values are left out (in Constant Contact a blank field never clears stored data), unknown
    columns are ignored, and every value is checked by the API's rules (see :mod:`.rules`).
    """
    formatter = RecordFormatter(column_map, v2_custom_field=v2_custom_field, today=today)
    plan, values, problems = formatter.check(row_number, row)
    return problems[0] if problems else plan.record(values)
