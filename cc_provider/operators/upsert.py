"""Create or update a small batch of contacts one by one through ``sign_up_form``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from cc_provider.contacts import Rejected, format_record
from cc_provider.exceptions import ConstantContactApiError, ConstantContactError
from cc_provider.hooks.constant_contact import ConstantContactHook

#: sign_up_form costs one request per contact: beyond this, use an import operator.
DEFAULT_MAX_CONTACTS = 500
PERSON_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "anniversary",
    "birthday_month",
    "birthday_day",
)
ADDRESS_FIELDS = {"street": "street", "city": "city", "state": "state", "zip": "postal_code", "country": "country"}


def sign_up_form_body(record: Mapping[str, Any], list_ids: Sequence[str]) -> dict[str, Any]:
    """Turn an import record (V3 import names) into a ``sign_up_form`` body."""
    body: dict[str, Any] = {"email_address": record["email"], "list_memberships": list(list_ids)}
    body.update({key: record[key] for key in PERSON_FIELDS if key in record})
    if "phone" in record:
        body["phone_number"] = record["phone"]
    address = {target: record[source] for source, target in ADDRESS_FIELDS.items() if source in record}
    if address:
        body["street_address"] = {"kind": "home", **address}
    return body


class ConstantContactUpsertContactOperator(BaseOperator):
    """
    Create or update each contact by email and add it to lists (``POST /contacts/sign_up_form``).

    Meant for small batches (one request per contact; a concurrent-update 409 is retried). Rows that
    cannot be sent, and contacts the API refuses, are reported in the result, not lost; the task fails
    if any contact was refused.

    :param contacts: records with an email; column names as for the import operators. Templated.
    :param list_ids: lists each contact is added to (1 to 50). Templated.
    :param max_contacts: refuse larger batches (use an import operator).
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("contacts", "list_ids")

    def __init__(
        self,
        *,
        contacts: list[Mapping[str, Any]],
        list_ids: list[str] | str,
        max_contacts: int = DEFAULT_MAX_CONTACTS,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contacts = contacts
        self.list_ids = list_ids
        self.max_contacts = max_contacts
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        contacts = list(self.contacts or [])
        if len(contacts) > self.max_contacts:
            raise ValueError(
                f"{len(contacts)} contacts is more than max_contacts={self.max_contacts}: sign_up_form costs one "
                "request per contact; use ConstantContactImportJsonOperator for bulk changes."
            )
        list_ids = [self.list_ids] if isinstance(self.list_ids, str) else list(self.list_ids)
        hook = ConstantContactHook(self.constant_contact_conn_id)
        result: dict[str, Any] = {"created": 0, "updated": 0, "rejected": [], "refused": []}
        for row_number, row in enumerate(contacts, start=1):
            record = format_record(row_number, row)
            if isinstance(record, Rejected) or "email" not in record:
                reason = record.reason if isinstance(record, Rejected) else "no email address"
                result["rejected"].append({"row_number": row_number, "reason": reason})
                continue
            try:
                _, created = hook.sign_up_form(sign_up_form_body(record, list_ids))
            except ConstantContactApiError as err:
                result["refused"].append(
                    {"row_number": row_number, "status": err.status_code, "reason": err.error_message}
                )
                continue
            result["created" if created else "updated"] += 1
        self.log.info(
            "%d created, %d updated, %d rejected locally, %d refused by the API.",
            result["created"],
            result["updated"],
            len(result["rejected"]),
            len(result["refused"]),
        )
        if result["refused"]:
            raise ConstantContactError(
                f"The API refused {len(result['refused'])} contact(s); first: {result['refused'][0]}. Result: {result}"
            )
        return result
