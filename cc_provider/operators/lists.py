"""Operators for Constant Contact contact lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.links import ConstantContactListLink


class ConstantContactCreateListOperator(BaseOperator):
    """
    Create a contact list, or reuse the list that already has this name.

    Re-running the task never creates a second list. Returns the list id.

    :param name: exact list name (unique in the account, at most 255 characters). Templated.
    :param description: list description, used only when the list is created. Templated.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("name", "description")
    operator_extra_links = (ConstantContactListLink(),)

    def __init__(
        self,
        *,
        name: str,
        description: str | None = None,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.description = description
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> str:
        if not self.name or len(self.name) > 255:
            raise ValueError(f"A list name must have 1 to 255 characters; got {len(self.name or '')}.")
        hook = ConstantContactHook(self.constant_contact_conn_id)
        contact_list, created = hook.get_or_create_list(self.name, self.description)
        verb = "Created" if created else "Reusing existing"
        self.log.info("%s list %r (%s).", verb, contact_list["name"], contact_list["list_id"])
        self.linked_list_id = contact_list["list_id"]
        return contact_list["list_id"]
