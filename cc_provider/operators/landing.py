"""
What an import left behind, from the ground truth: the target lists' membership and the API's rejections.

An activity's counters say what the API did with the rows it received; whether the contacts are on the
lists is told only by the lists (seed 002: "Confirm the list membership"; FIDELITY.md). After an import
completed, every contact that was sent, not rejected and not unsubscribed must be a member of every
target list, so each list must hold at least that many contacts: one request a list, whatever its size.

The API's rejections go to the rejects file: by source row when ``activity_errors`` carries V2-style
``Line N:`` messages, and otherwise as one line per request that says how many of its rows the API
rejected without saying which (sources disagree on what V3 reports there; FIDELITY.md "unsettled").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cc_provider.activity import rejected_count
from cc_provider.contacts import RejectsWriter, map_activity_errors
from cc_provider.contacts.rejects import Rejected
from cc_provider.exceptions import ContactsMissingError
from cc_provider.hooks.constant_contact import ConstantContactHook

#: The reason of a rejects-file line for rows the API rejected without naming them.
UNNAMED_REJECTS_REASON = "rejected by the API, no reason given"


class StagedRequest(Protocol):
    """What :func:`write_api_rejects` needs of a staged import request (``ImportRequest``)."""

    contact_count: int
    chunk: Any


def count_members(hook: ConstantContactHook, list_ids: Sequence[str]) -> dict[str, int]:
    """Return the number of contacts (any status) on each list: one request a list."""
    return {list_id: hook.count_list_members(list_id, status="all") for list_id in list_ids}


def check_membership(
    hook: ConstantContactHook,
    list_ids: Sequence[str],
    before: dict[str, int],
    *,
    expected: int,
    sent: int,
    on_missing: Callable[[], None],
) -> dict[str, dict[str, int | None]]:
    """
    Check that each list holds at least ``expected`` contacts; return ``{list id: {before, after}}``.

    ``expected`` is the number of distinct contacts that must be members (sent, less rejected by the
    API, less unsubscribed). When a list holds fewer, ``on_missing`` runs (the caller forgets what it
    posted, so that a retry posts again) and :class:`ContactsMissingError` says what is missing.
    """
    members: dict[str, dict[str, int | None]] = {}
    short: list[str] = []
    for list_id, after in count_members(hook, list_ids).items():
        held = before.get(list_id)
        members[list_id] = {"before": held, "after": after}
        was = "" if held is None else f" (it held {held} before)"
        if after < expected:
            short.append(f"list {list_id} holds {after} contact(s){was}: at least {expected - after} missing")
        else:
            hook.log.info("List %s holds %d contact(s)%s; at least %d had to be there.", list_id, after, was, expected)
    if short:
        on_missing()
        raise ContactsMissingError(
            f"After the import, {'; '.join(short)}. Every one of the {expected} contact(s) that the API accepted "
            f"and that had not unsubscribed (of {sent} sent) must be on each list. The activities' counters and "
            "the lists disagree: a contact already on 50 lists cannot join another, and another process may have "
            "removed contacts meanwhile. This import's record was cleared, so the task's retry (or a re-run) posts "
            "every request again, which is harmless: imports upsert by email. If it fails again, compare the list "
            "with the source (ConstantContactVerifyListOperator)."
        )
    return members


def write_api_rejects(
    hook: ConstantContactHook,
    rejects_path: str,
    activities: Sequence[dict[str, Any]],
    requests: Sequence[StagedRequest] | None,
    log: Any,
    *,
    shown_as: str | None = None,
) -> tuple[int, int]:
    """
    Append the API's rejections of each request to the rejects file; return ``(named, unnamed)`` rows.

    ``activities`` are the summaries of the completed activities, in the order of ``requests`` (or
    ``None`` when the source could not be split again to learn each request's rows). An activity whose
    summary kept only the first errors is read again, once, for all of them. A request counts as many
    rejections as its counters say, or as its messages name rows, whichever is more. ``shown_as`` names
    the rejects file in the log (the object's URL when ``rejects_path`` is its local copy).
    """
    named_total = unnamed_total = 0
    with RejectsWriter(rejects_path, append=True) as writer:
        for index, summary in enumerate(activities):
            rejected = rejected_count(summary)
            if not rejected and not summary.get("activity_errors"):
                continue
            messages = [str(m) for m in summary.get("activity_errors") or []]
            if int(summary.get("activity_errors_total") or 0) > len(messages):
                full = hook.get_activity(str(summary["activity_id"]))
                messages = [str(m) for m in full.get("activity_errors") or []]
            request = requests[index] if requests is not None and index < len(requests) else None
            chunk = request.chunk if request is not None else None
            named: dict[int, str] = {}
            said: list[str] = []
            for error in map_activity_errors(messages, chunk) if chunk is not None else ():
                if error.row_number is not None:
                    named.setdefault(error.row_number, error.message)
                else:
                    said.append(error.message)
            if chunk is None:
                said = messages
            for row_number, message in sorted(named.items()):
                writer.write(Rejected(row_number, "", "", f"rejected by the API: {message}"))
            named_total += len(named)
            unnamed = rejected - len(named)
            if unnamed <= 0:
                continue
            unnamed_total += unnamed
            rows = _rows_of(chunk)
            where = f"source rows {rows[0]}-{rows[1]}" if rows else "rows unknown (the source could not be read again)"
            detail = f" The API said: {'; '.join(said[:3])}" if said else ""
            writer.write(
                Rejected(
                    0,
                    "",
                    f"request {index + 1}: {where}",
                    f"{UNNAMED_REJECTS_REASON}: {unnamed} of the {request.contact_count if request else '?'} "
                    f"contact(s) of request {index + 1}; the API did not say which.{detail}",
                )
            )
            log.warning(
                "The API rejected %d contact(s) of request %d without naming them (%s); see %s.",
                unnamed,
                index + 1,
                where,
                shown_as or rejects_path,
            )
    return named_total, unnamed_total


def _rows_of(chunk: Any) -> tuple[int, int] | None:
    """First and last source row of a staged request, or ``None``."""
    rows = getattr(chunk, "row_numbers", None)
    return (min(rows), max(rows)) if rows else None


def account_rows(
    summary: dict[str, Any], activities: list[dict[str, Any]], api_rejects: tuple[int, int] | None, log: Any
) -> dict[str, int]:
    """
    Account for every row sent: rejected by the API, imported, and (of the contacts) unsubscribed.

    ``api_rejects`` is what :func:`write_api_rejects` wrote (rows named, rows not named), which replaces
    the counters' figure since a message may name a row the counters left out; ``None`` keeps the counters'.
    """
    rejected, unidentified = sum(rejected_count(a) for a in activities), 0
    if api_rejects is not None:
        named, unidentified = api_rejects
        rejected = named + unidentified
    not_added = sum(int(a.get("cannot_add_to_list_count") or 0) for a in activities)
    rows_sent = int(summary.get("rows_sent", 0))
    contacts_imported = max(0, int(summary.get("contacts_sent", rows_sent)) - rejected)
    log.info(
        "Accounting: %s rows read = %s rejected locally + %d rejected by the API + %d imported "
        "(%d distinct contacts, %d of them unsubscribed, so not added to the lists).",
        summary.get("rows_read"),
        summary.get("rows_rejected"),
        rejected,
        rows_sent - rejected,
        contacts_imported,
        not_added,
    )
    return {
        "rows_rejected_by_api": rejected,
        "rows_rejected_by_api_unidentified": unidentified,
        "rows_imported": rows_sent - rejected,
        "contacts_imported": contacts_imported,
        "rows_not_added_unsubscribed": not_added,
    }
