"""Operators that check and change who is on a Constant Contact list."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context, conf

from cc_provider import storage
from cc_provider.contacts import iter_json_records
from cc_provider.exceptions import ListVerificationError
from cc_provider.hooks.constant_contact import MAX_CONTACT_IDS_PER_ACTIVITY, ConstantContactHook
from cc_provider.links import ConstantContactListLink
from cc_provider.waiting import ActivityWaiter

REPORT_SAMPLE = 20


def read_emails(source: Iterable[str] | str) -> set[str]:
    """
    Lower-cased emails from a list, or from a file: JSON/JSON Lines records with ``email``, else one per line.

    The file is a local path or a URL (:mod:`cc_provider.storage`; an object is read from a local copy).
    """
    if not isinstance(source, str):
        return {e.strip().lower() for e in source if e and e.strip()}
    with storage.scratch_directory("emails") as directory:
        path = Path(storage.readable(source, directory))
        if path.suffix.lower() in {".json", ".jsonl", ".ndjson"}:
            return {str(r["email"]).strip().lower() for r in iter_json_records(path) if r.get("email")}
        with path.open(encoding="utf-8-sig") as handle:
            return {line.strip().lower() for line in handle if line.strip()}


class ConstantContactVerifyListOperator(BaseOperator):
    """
    Check a list's membership through ``GET /contacts?lists=``; fail with a report if it is off.

    The count comes from ``include_count``. With ``expected_emails`` the members are compared with the
    expected addresses: every member is read when the list has at most ``max_members_scanned``
    contacts (500 per request), otherwise ``sample_size`` expected addresses are looked up one by one.

    :param list_id: the list to check. Templated.
    :param expected_count: the number of members the list must have. Templated.
    :param expected_emails: the addresses the list must hold exactly: a list, or a file path (JSON/JSON
        Lines records with ``email``, or one address per line). Templated.
    :param allow_unexpected: members that are not expected are reported, not failed (a list that is
        added to but never pruned). Templated (``"True"`` / ``"False"`` strings are understood).
    :param sample_size: expected addresses looked up when the list is too large to read whole.
    :param max_members_scanned: read every member up to this many; sample above.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("list_id", "expected_count", "expected_emails", "allow_unexpected")
    operator_extra_links = (ConstantContactListLink(),)

    def __init__(
        self,
        *,
        list_id: str,
        expected_count: int | str | None = None,
        expected_emails: list[str] | str | None = None,
        allow_unexpected: bool | str = False,
        sample_size: int = 100,
        max_members_scanned: int = 50_000,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if expected_count is None and expected_emails is None:
            raise ValueError("Give expected_count, expected_emails or both.")
        self.list_id = list_id
        self.expected_count = expected_count
        self.expected_emails = expected_emails
        self.allow_unexpected = allow_unexpected
        self.sample_size = sample_size
        self.max_members_scanned = max_members_scanned
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        self.linked_list_id = self.list_id
        members = hook.count_list_members(self.list_id)
        report: dict[str, Any] = {"list_id": self.list_id, "members": members}
        problems = []
        if self.expected_count is not None:
            expected = int(self.expected_count)
            report["expected_count"] = expected
            if members != expected:
                problems.append(f"it has {members} members, expected {expected}")
        if self.expected_emails is not None:
            expected_emails = read_emails(self.expected_emails)
            report.update(self._compare(hook, members, expected_emails))
            allow_unexpected = str(self.allow_unexpected).strip().lower() in ("true", "1", "yes")
            if report["missing_count"] or (report.get("unexpected_count") and not allow_unexpected):
                problems.append(
                    f"{report['missing_count']} expected address(es) missing (e.g. {report['missing'][:3]}), "
                    f"{report.get('unexpected_count', 0)} unexpected (e.g. {report.get('unexpected', [])[:3]})"
                )
        if problems:
            raise ListVerificationError(f"List {self.list_id} failed verification: {'; '.join(problems)}.")
        self.log.info("List %s verified: %d members.", self.list_id, members)
        return report

    def _compare(self, hook: ConstantContactHook, members: int, expected: set[str]) -> dict[str, Any]:
        if members <= self.max_members_scanned:
            found = {
                str((c.get("email_address") or {}).get("address", "")).lower()
                for c in hook.iter_contacts(lists=self.list_id)
            }
            missing, unexpected = sorted(expected - found), sorted(found - expected)
            return {
                "checked": "all members",
                "missing_count": len(missing),
                "missing": missing[:REPORT_SAMPLE],
                "unexpected_count": len(unexpected),
                "unexpected": unexpected[:REPORT_SAMPLE],
            }
        sample = random.sample(sorted(expected), min(self.sample_size, len(expected)))
        missing = []
        for email in sample:
            contact = hook.find_contact(email)
            if contact is None or self.list_id not in (contact.get("list_memberships") or []):
                missing.append(email)
        return {
            "checked": f"a sample of {len(sample)}",
            "missing_count": len(missing),
            "missing": missing[:REPORT_SAMPLE],
        }


class ConstantContactRemoveFromListOperator(ActivityWaiter, BaseOperator):
    """
    Remove contacts from lists with ``remove_list_memberships`` activities of at most 500 contacts.

    Returns ``{"activity_ids": [...], "contacts": n}``; with ``wait_for_completion`` it waits for them
    like :class:`~cc_provider.sensors.activity.ConstantContactActivitySensor`.

    :param list_ids: lists to remove the contacts from (1 to 50). Templated.
    :param contact_ids: the contacts' ids. Templated.
    :param wait_for_completion: wait until every activity completed.
    :param deferrable: wait in the triggerer.
    :param poll_interval: the shortest time between polls while waiting; later polls follow the progress.
    :param wait_timeout: seconds to wait at most.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("list_ids", "contact_ids")

    def __init__(
        self,
        *,
        list_ids: list[str] | str,
        contact_ids: list[str],
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float = 6 * 3600.0,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.list_ids = list_ids
        self.contact_ids = contact_ids
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        list_ids = [self.list_ids] if isinstance(self.list_ids, str) else list(self.list_ids)
        contact_ids = list(dict.fromkeys(self.contact_ids or []))
        hook = ConstantContactHook(self.constant_contact_conn_id)
        activity_ids = []
        for start in range(0, len(contact_ids), MAX_CONTACT_IDS_PER_ACTIVITY):
            chunk = contact_ids[start : start + MAX_CONTACT_IDS_PER_ACTIVITY]
            activity_ids.append(hook.remove_list_memberships(list_ids, chunk)["activity_id"])
        self.log.info(
            "Removing %d contact(s) from %s in %d activity(ies).", len(contact_ids), list_ids, len(activity_ids)
        )
        result = {"activity_ids": activity_ids, "contacts": len(contact_ids)}
        if not self.wait_for_completion or not activity_ids:
            return result
        self.wait(context, activity_ids, self.clock() + self.wait_timeout, state=result)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: succeed only on a success event."""
        self.complete_event(context, event)
        return self.resume_state(context) or {}
