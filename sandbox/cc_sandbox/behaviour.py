"""Behaviour switches: what no source settles about the real API, offered as each plausible variant.

Each switch is a :class:`~cc_sandbox.config.SandboxConfig` field (a CLI flag, and changeable
with ``PATCH /__sandbox__/config``). The first variant of each is the default. ``FIDELITY.md`` (beside
the spec) lists what is known about each; the comments here name the source in short.
"""

from __future__ import annotations

from typing import Any

#: ``switch -> variants``; the first variant is the default.
SWITCHES: dict[str, tuple[str, ...]] = {
    # activity_errors of a V3 import: an array of strings (S1). "Line N: reason" is a V2 format; a later
    # V2 page says the field returns an empty array; CC support says V3 reports no per-contact errors (S26).
    "activity_errors_style": ("line_numbers", "none", "free_text"),
    # A bad birthday or anniversary is a *correctable* error (S1 ActivityImport.status): the row may be
    # rejected, or imported without the bad field (and still counted as correctable).
    "bad_date_handling": ("reject_row", "drop_field"),
    # The order of GET /activities is not specified (S1); "unordered" is a deterministic shuffle.
    "activities_order": ("newest_first", "oldest_first", "unordered"),
    # items_total_count while an activity is still initialized: not documented.
    "initialized_total_count": ("known", "zero", "absent"),
    # Whether an unsubscribe, or a list membership change, moves a contact's updated_at: not documented
    # (the optout_after/optout_before filters exist for opt-outs, S1). A PUT always moves it.
    "updated_at_on_unsubscribe": ("bumped", "not_bumped"),
    "updated_at_on_membership_change": ("bumped", "not_bumped"),
    # List names must be unique (S12); whether "News" and "news" clash (and match GET ?name=) is unknown.
    "list_name_case": ("sensitive", "insensitive"),
    # CSV headers a V3 file import does not know: V2 ignored deprecated columns (seed 000); V3 unknown.
    "unknown_csv_headers": ("reject", "ignore"),
    # person_count is "the total number of contacts in the import file" (S1): every row, or (a reading
    # some clients make) only the rows that were imported.
    "person_count_mode": ("all_rows", "imported_only"),
    # A contact is on at most 50 lists (S1 add_list_memberships, S12); how an import reports a contact it
    # could not add for that reason is not documented: one more error_count, or no counter at all.
    "list_full_reporting": ("error_count", "not_counted"),
    # Timestamps: "spec" renders each field as the spec's examples and seed 002 show it (activities and
    # list creation with milliseconds and Z, contacts and list updates with a -05:00 offset); "offset"
    # uses -05:00 everywhere; "seconds_z" is whole seconds with Z everywhere.
    "timestamp_style": ("spec", "offset", "seconds_z"),
}

#: The 429 ``error_key`` for 1,000 queued activities is not in the spec (its message is); any key but
#: ``quota_exceeded`` (the daily quota's) is plausible.
QUEUE_FULL_DEFAULT_KEY = "too_many_requests"
QUEUE_FULL_FORBIDDEN_KEY = "quota_exceeded"

#: Named sets of switches that together use every variant of every switch at least once.
BEHAVIOUR_PROFILES: dict[str, dict[str, Any]] = {
    "documented": {
        "activity_errors_style": "line_numbers",
        "bad_date_handling": "reject_row",
        "activities_order": "newest_first",
        "initialized_total_count": "known",
        "updated_at_on_unsubscribe": "bumped",
        "updated_at_on_membership_change": "bumped",
        "list_name_case": "sensitive",
        "unknown_csv_headers": "reject",
        "person_count_mode": "all_rows",
        "list_full_reporting": "error_count",
        "timestamp_style": "spec",
        "queue_full_error_key": QUEUE_FULL_DEFAULT_KEY,
    },
    "opaque": {
        "activity_errors_style": "none",
        "bad_date_handling": "drop_field",
        "activities_order": "oldest_first",
        "initialized_total_count": "zero",
        "updated_at_on_unsubscribe": "not_bumped",
        "updated_at_on_membership_change": "not_bumped",
        "list_name_case": "insensitive",
        "unknown_csv_headers": "ignore",
        "person_count_mode": "imported_only",
        "list_full_reporting": "not_counted",
        "timestamp_style": "offset",
        "queue_full_error_key": "throttled",
    },
    "free_text": {
        "activity_errors_style": "free_text",
        "bad_date_handling": "drop_field",
        "activities_order": "unordered",
        "initialized_total_count": "absent",
        "updated_at_on_unsubscribe": "not_bumped",
        "updated_at_on_membership_change": "bumped",
        "list_name_case": "insensitive",
        "unknown_csv_headers": "reject",
        "person_count_mode": "all_rows",
        "list_full_reporting": "error_count",
        "timestamp_style": "seconds_z",
        "queue_full_error_key": "activities.queue_full",
    },
}


def profile_settings(profile: str | dict[str, Any]) -> dict[str, Any]:
    """Return the settings of a named profile (a copy), or ``profile`` itself when it is a dict of settings."""
    if isinstance(profile, dict):
        return dict(profile)
    if profile not in BEHAVIOUR_PROFILES:
        raise ValueError(f"Unknown behaviour profile {profile!r}; use one of {', '.join(BEHAVIOUR_PROFILES)}.")
    return dict(BEHAVIOUR_PROFILES[profile])


__all__ = ["BEHAVIOUR_PROFILES", "QUEUE_FULL_DEFAULT_KEY", "SWITCHES", "profile_settings"]
