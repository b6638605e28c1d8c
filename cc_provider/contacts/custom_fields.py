"""Check the custom fields an import uses against the ones the account has (fetched by the caller)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cc_provider.contacts.errors import UnknownCustomFieldsError
from cc_provider.contacts.fields import CUSTOM_FIELD_PREFIX, DEFAULT_V2_CUSTOM_FIELD, import_name, is_custom_field


def _bare(name: str) -> str:
    return name[len(CUSTOM_FIELD_PREFIX) :] if is_custom_field(name) else name


def missing_custom_fields(used: Iterable[str], account_names: Iterable[str]) -> list[str]:
    """Return the names in ``used`` the account lacks, sorted; ``cf:`` prefixes are ignored on both sides."""
    known = {_bare(name) for name in account_names}
    return sorted({_bare(name) for name in used} - known)


def check_custom_fields(used: Iterable[str], account_names: Iterable[str]) -> None:
    """
    Raise :class:`UnknownCustomFieldsError` unless the account has every custom field the import uses.

    Names are compared exactly, as the API does; a name that differs only in case is suggested.

    :param used: custom field names of the import (e.g. ``PreparedImport.custom_fields``).
    :param account_names: the ``name`` of each of the account's custom fields.
    """
    account = {_bare(name) for name in account_names}
    unknown = missing_custom_fields(used, account)
    if not unknown:
        return
    by_lower = {name.lower(): name for name in account}
    described = []
    for name in unknown:
        near = by_lower.get(name.lower())
        described.append(f"cf:{name}" + (f" (did you mean cf:{near}?)" if near else ""))
    raise UnknownCustomFieldsError(
        f"The import uses custom fields the account does not have: {', '.join(described)}. Create them in "
        "Constant Contact first, or map those columns to existing fields (or to None) with column_map.",
        unknown,
    )


def collect_custom_fields(
    records: Iterable[Mapping[str, Any]],
    column_map: Mapping[str, str | None] | None = None,
    *,
    v2_custom_field: str | None = DEFAULT_V2_CUSTOM_FIELD,
) -> frozenset[str]:
    """Return the custom field names (without ``cf:``) the keys of ``records`` map to, in one pass over the keys."""
    seen_keys: set[str] = set()
    found: set[str] = set()
    for record in records:
        for key in record:
            if key in seen_keys:
                continue
            seen_keys.add(key)
            name = import_name(str(key), column_map, v2_custom_field=v2_custom_field)
            if name is not None and is_custom_field(name):
                found.add(_bare(name))
    return frozenset(found)


__all__ = ["check_custom_fields", "collect_custom_fields", "missing_custom_fields"]
