"""Extra links from a task to what it touched in Constant Contact's web app."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

#: The contacts area of Constant Contact's web app; a list opens at ``#contacts/<list id>``.
WEB_APP_CONTACTS_URL = "https://app.constantcontact.com/pages/contacts/ui"


def list_url(list_id: str) -> str:
    """Return the web-app page of a contact list."""
    return f"{WEB_APP_CONTACTS_URL}#contacts/{quote(list_id, safe='')}"


class ConstantContactListLink(BaseOperatorLink):
    """
    "Constant Contact list": the list a task created, imported into, verified or pruned.

    The operator sets ``linked_list_id`` while it runs; Airflow stores the link when the task finishes.
    """

    name = "Constant Contact list"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        list_id = getattr(operator, "linked_list_id", None)
        return list_url(str(list_id)) if list_id else ""
