"""A contact's subscription and list memberships: opt-out, re-opt-in and the 50-list limit, in one place.

- An unsubscribed contact is "automatically removed from all lists" (a CC administrator,
  https://community.constantcontact.com/t5/Questions-Discussions/Globally-Unsubscribed/m-p/414664;
  "taken from your active lists", http://support2.constantcontact.com/articles/FAQ/1574), and imports
  cannot add it back (``cannot_add_to_list_count``, S1), nor can ``add_list_memberships``.
- ``opt_out_source`` (S1 ``EmailAddress``): ``Contact`` when the contact opted out; then the account
  "cannot send any campaigns to this contact until the contact opts back in" (a sign-up form, or the
  confirmation of a resubscribe email). ``Account`` when the account did; then "the account can add the
  contact back to any lists and send to them": a ``PUT`` with a sending permission re-subscribes it.
- "Each contact can be a member of up to 50 lists" (S1 ``add_list_memberships``; S12).
"""

from __future__ import annotations

from cc_sandbox.models import Contact
from cc_sandbox.store import SandboxState

MAX_LISTS_PER_CONTACT = 50
OPT_OUT_SOURCES = ("Account", "Contact")


def unsubscribe(state: SandboxState, contact: Contact, source: str) -> None:
    """Opt ``contact`` out (``source``: ``Account`` or ``Contact``); it leaves every list.

    ``updated_at`` moves only under ``updated_at_on_unsubscribe=bumped`` (a PUT moves it anyway).
    """
    now = state.clock()
    contact.permission_to_send = "unsubscribed"
    contact.opt_out_source, contact.opt_out_date = source, now
    contact.list_ids = []
    contact.resubscribe_list_ids = None
    if state.config.updated_at_on_unsubscribe == "bumped":
        contact.updated_at = now


def opt_back_in(state: SandboxState, contact: Contact, permission: str) -> None:
    """Give an unsubscribed ``contact`` a sending ``permission`` again (``opt_in_source`` is read-only, S1)."""
    contact.permission_to_send = permission
    contact.opt_out_source = contact.opt_out_date = contact.resubscribe_list_ids = None
    contact.opt_in_date = state.clock()


def account_may_resubscribe(contact: Contact) -> bool:
    """Tell whether the account itself may give ``contact`` a sending permission again (S1 ``opt_out_source``)."""
    return contact.permission_to_send != "unsubscribed" or contact.opt_out_source == "Account"


def join_lists(state: SandboxState, contact: Contact, list_ids: list[str]) -> list[str]:
    """Add ``contact`` to those of ``list_ids`` it may join; return the ids it could not join for the 50-list limit.

    An unsubscribed contact joins nothing (the caller counts that itself). Joining moves ``updated_at``
    only under ``updated_at_on_membership_change=bumped``.
    """
    if contact.permission_to_send == "unsubscribed":
        return []
    full: list[str] = []
    joined = False
    for list_id in list_ids:
        if list_id in contact.list_ids or state.live_list(list_id) is None:
            continue
        if len(contact.list_ids) >= MAX_LISTS_PER_CONTACT:
            full.append(list_id)
            continue
        contact.list_ids.append(list_id)
        joined = True
    if joined:
        memberships_changed(state, contact)
    return full


def leave_lists(state: SandboxState, contact: Contact, list_ids: list[str]) -> None:
    """Take ``contact`` off ``list_ids``."""
    if set(contact.list_ids) & set(list_ids):
        contact.list_ids = [list_id for list_id in contact.list_ids if list_id not in list_ids]
        memberships_changed(state, contact)


def memberships_changed(state: SandboxState, contact: Contact) -> None:
    """Move ``updated_at`` after a list membership change, if ``updated_at_on_membership_change`` says so."""
    if state.config.updated_at_on_membership_change == "bumped":
        contact.updated_at = state.clock()
