"""In-memory state of one sandbox: clients, tokens, lists, contacts, activities, stats and faults."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cc_provider.sandbox.config import SandboxConfig
from cc_provider.sandbox.errors import CONFLICT, SandboxError
from cc_provider.sandbox.models import Activity, Client, Contact, ContactList, Fault, IssuedToken, new_id


@dataclass
class Stats:
    """Counters exposed by ``GET /__sandbox__/stats``."""

    requests: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    refreshes: int = 0
    unauthorized: int = 0
    truncations: int = 0
    contacts_dropped: int = 0
    import_posts: int = 0
    faults_served: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "tokens_issued": self.tokens_issued,
            "refreshes": self.refreshes,
            "unauthorized": self.unauthorized,
            "truncations": self.truncations,
            "contacts_dropped": self.contacts_dropped,
            "import_posts": self.import_posts,
            "faults_served": self.faults_served,
        }


class SandboxState:
    """All mutable state of a sandbox; hold :attr:`lock` while reading or changing it."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.initial_config = config
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, IssuedToken] = {}
        self.lists: dict[str, ContactList] = {}
        self.contacts: dict[str, Contact] = {}
        self.activities: dict[str, Activity] = {}
        self.faults: list[Fault] = []
        self.stats = Stats()
        self._by_email: dict[str, str] = {}
        self._by_sms: dict[str, str] = {}
        self._seq = itertools.count(1)
        self._install_default_client()

    # -- lifecycle -------------------------------------------------------------------------------

    def _install_default_client(self) -> None:
        cfg = self.initial_config
        self.clients[cfg.client_id] = Client(cfg.client_id, cfg.client_secret, cfg.scopes)
        for token, client_id in list(self.refresh_tokens.items()):
            if client_id == cfg.client_id:
                del self.refresh_tokens[token]
        self.refresh_tokens[cfg.refresh_token] = cfg.client_id

    def reset(self) -> None:
        """Forget lists, contacts, activities, stats and faults; restore the start-up settings.

        Clients, the default refresh token and issued access tokens survive, so callers stay signed in.
        """
        with self.lock:
            self.config = self.initial_config
            self.lists.clear()
            self.contacts.clear()
            self.activities.clear()
            self.faults.clear()
            self._by_email.clear()
            self._by_sms.clear()
            self.stats = Stats()
            self._install_default_client()

    def update_config(self, changes: dict[str, Any]) -> SandboxConfig:
        """Apply run-time setting ``changes``; raise ``ValueError`` when one is not allowed."""
        with self.lock:
            self.config = self.config.updated(changes)
            return self.config

    def next_seq(self) -> int:
        """Return the next creation sequence number (orders lists and contacts)."""
        return next(self._seq)

    # -- clients and tokens ----------------------------------------------------------------------

    def authenticate_client(self, client_id: str, client_secret: str) -> Client | None:
        """Return the client when the credentials match, else ``None``."""
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            return None
        return client

    def refresh_token_owner(self, token: str) -> str | None:
        """Return the client id holding ``token``, or ``None`` if it is unknown or revoked."""
        return self.refresh_tokens.get(token)

    def rotate_refresh_token(self, client_id: str) -> str:
        """Revoke every refresh token of ``client_id`` and return a new one."""
        for token, owner in list(self.refresh_tokens.items()):
            if owner == client_id:
                del self.refresh_tokens[token]
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = client_id
        return token

    def record_token(self, token: IssuedToken) -> None:
        if len(self.access_tokens) >= 1000:  # forget expired tokens now and then
            self.access_tokens = {
                jti: live for jti, live in self.access_tokens.items() if live.expires_at > token.issued_at
            }
        self.access_tokens[token.jti] = token

    def token_is_live(self, jti: str, now: float) -> bool:
        token = self.access_tokens.get(jti)
        return token is not None and now < token.expires_at

    def expire_tokens(self) -> int:
        """Invalidate every access token issued so far; return how many there were."""
        with self.lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    # -- lists -----------------------------------------------------------------------------------

    def create_list(self, name: str, description: str | None, favorite: bool) -> ContactList:
        """Create a list; 409 for a name in use (exact match), 400 past the account's list limit."""
        with self.lock:
            live = [lst for lst in self.lists.values() if lst.deleted_at is None]
            existing = next((lst for lst in live if lst.name == name), None)
            if existing is not None:
                raise SandboxError.api(
                    409,
                    CONFLICT,
                    f"Conflict. A contact list named '{name}' already exists (list_id {existing.list_id}).",
                )
            if len(live) >= self.config.max_lists:
                raise SandboxError.validation(
                    f"The account already has the maximum of {self.config.max_lists} contact lists."
                )
            now = self.clock()
            lst = ContactList(new_id(), self.next_seq(), name, description, favorite, now, now)
            self.lists[lst.list_id] = lst
            return lst

    def membership_counts(self, *, active_only: bool) -> Counter[str]:
        """Count members per list id (``active_only``: contacts whose status is ``active``)."""
        counts: Counter[str] = Counter()
        for contact in self.contacts.values():
            if contact.deleted_at is not None or (active_only and contact.status != "active"):
                continue
            counts.update(contact.list_ids)
        return counts

    # -- contacts --------------------------------------------------------------------------------

    def contact_by_email(self, email: str) -> Contact | None:
        contact_id = self._by_email.get(email.lower())
        return self.contacts.get(contact_id) if contact_id else None

    def contact_by_sms(self, sms_number: str) -> Contact | None:
        contact_id = self._by_sms.get(sms_number)
        return self.contacts.get(contact_id) if contact_id else None

    def add_contact(self, email: str | None, sms_number: str | None = None, **attrs: Any) -> Contact:
        """Create a contact; the caller has checked that its email and SMS number are unused."""
        with self.lock:
            now = self.clock()
            attrs.setdefault("opt_in_date", now)
            contact = Contact(new_id(), self.next_seq(), email, now, now, sms_number=sms_number, **attrs)
            self.contacts[contact.contact_id] = contact
            if email:
                self._by_email[email.lower()] = contact.contact_id
            if sms_number:
                self._by_sms[sms_number] = contact.contact_id
            return contact

    def index_sms(self, contact: Contact) -> None:
        if contact.sms_number:
            self._by_sms[contact.sms_number] = contact.contact_id

    # -- activities ------------------------------------------------------------------------------

    def add_activity(self, activity: Activity) -> None:
        with self.lock:
            self.activities[activity.activity_id] = activity

    # -- faults and stats ------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching ``method path``, or return ``None``."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    self.stats.faults_served += 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def clear_faults(self) -> int:
        with self.lock:
            count = len(self.faults)
            self.faults.clear()
            return count

    def count_request(self, key: str) -> None:
        with self.lock:
            self.stats.requests[key] += 1
