"""In-memory state of one sandbox: clients, tokens, account data, activities, stats, faults and the clock."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cc_sandbox.config import SandboxConfig
from cc_sandbox.errors import CONFLICT, SandboxError, error_object
from cc_sandbox.limits import Limits
from cc_sandbox.models import (
    TERMINAL_STATES,
    Activity,
    ActivityFault,
    AuthCode,
    Client,
    Contact,
    ContactList,
    CustomField,
    DeviceCode,
    Fault,
    IssuedToken,
    RefreshGrant,
    new_id,
)


@dataclass
class Stats:
    """Counters exposed by ``GET /__sandbox__/stats``."""

    requests: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    refreshes: int = 0
    # the sandbox's own count (admin stats, not an API behaviour): refresh grants refused with invalid_grant
    invalid_grants: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    throttled: int = 0
    quota_exceeded: int = 0
    token_throttled: int = 0
    truncations: int = 0
    contacts_dropped: int = 0
    import_posts: int = 0
    activities_created: int = 0
    faults_served: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["requests"] = dict(sorted(self.requests.items()))
        return data


class SandboxState:
    """All mutable state of a sandbox; hold :attr:`lock` while reading or changing it."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.initial_config = config
        self.config = config
        self.jwt_secret = config.jwt_secret
        self._wall_clock = clock
        self.clock_offset = 0.0
        self.lock = threading.RLock()
        self.changed = False  # set on every change; the state file's writer clears it
        self.clients: dict[str, Client] = {}
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        self.access_tokens: dict[str, IssuedToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.device_codes: dict[str, DeviceCode] = {}
        self.lists: dict[str, ContactList] = {}
        self.contacts: dict[str, Contact] = {}
        self.custom_fields: dict[str, CustomField] = {}
        self.activities: dict[str, Activity] = {}
        self.faults: list[Fault] = []
        self.activity_faults: list[ActivityFault] = []
        #: lower-cased addresses flagged for signup abuse: imports reject them as invalid (S27)
        self.flagged_emails: set[str] = set()
        self.stats = Stats()
        self.limits = Limits()
        self._by_email: dict[str, str] = {}
        self._by_sms: dict[str, str] = {}
        self._seq = itertools.count(1)
        self._install_default_client()

    def clock(self) -> float:
        """Return the sandbox's wall-clock time (real time plus what ``POST /__sandbox__/clock`` added)."""
        return self._wall_clock() + self.clock_offset

    # -- lifecycle -------------------------------------------------------------------------------

    def ensure_default_client(self) -> None:
        """Register the default client as configured (its refresh tokens are left alone)."""
        cfg = self.initial_config
        self.clients[cfg.client_id] = Client(
            cfg.client_id, cfg.client_secret, cfg.scopes, cfg.redirect_uris, cfg.refresh_token_mode
        )

    def _install_default_client(self) -> None:
        cfg = self.initial_config
        self.ensure_default_client()
        self.revoke_refresh_tokens(client_id=cfg.client_id)
        now = self.clock()
        self.refresh_tokens[cfg.refresh_token] = RefreshGrant(
            cfg.refresh_token, cfg.client_id, list(cfg.scopes), now, now
        )

    def reset(self) -> None:
        """Forget account data, activities, stats, faults and extra clients; restore the start-up settings.

        The default client, its start-up refresh token and issued access tokens survive, so callers stay signed in.
        """
        with self.lock:
            self.config = self.initial_config
            for store in (self.lists, self.contacts, self.custom_fields, self.activities, self.auth_codes):
                store.clear()
            self.device_codes.clear()
            self.faults.clear()
            self.activity_faults.clear()
            self.flagged_emails.clear()
            self._by_email.clear()
            self._by_sms.clear()
            self.stats = Stats()
            self.limits = Limits()
            self.clock_offset = 0.0
            for client_id in [cid for cid in self.clients if cid != self.initial_config.client_id]:
                self.remove_client(client_id)
            self._install_default_client()
            self.changed = True

    def update_config(self, changes: dict[str, Any]) -> SandboxConfig:
        """Apply run-time setting ``changes``; raise ``ValueError`` when one is not allowed."""
        with self.lock:
            self.config = self.config.updated(changes)
            return self.config

    def next_seq(self) -> int:
        """Return the next creation sequence number (orders lists, contacts, fields and activities)."""
        return next(self._seq)

    def restart_seq(self, after: int) -> None:
        self._seq = itertools.count(after + 1)

    # -- clients and tokens ----------------------------------------------------------------------

    def authenticate_client(self, client_id: str, client_secret: str) -> Client | None:
        """Return the client when the credentials match, else ``None``."""
        client = self.clients.get(client_id)
        if client is None or client.client_secret is None:
            return None
        return client if secrets.compare_digest(client.client_secret, client_secret) else None

    def remove_client(self, client_id: str) -> None:
        self.clients.pop(client_id, None)
        self.revoke_refresh_tokens(client_id=client_id)
        self.access_tokens = {jti: t for jti, t in self.access_tokens.items() if t.client_id != client_id}

    def refresh_token_owner(self, token: str) -> str | None:
        """Return the client id holding ``token``, or ``None`` if it is unknown or revoked."""
        grant = self.refresh_tokens.get(token)
        return grant.client_id if grant else None

    def new_refresh_token(self, client_id: str, scopes: list[str], *, public: bool = False) -> str:
        """Issue a refresh token; for a rotating client every older one of that client is revoked."""
        if self.clients[client_id].refresh_token_mode == "rotating":
            self.revoke_refresh_tokens(client_id=client_id)
        now = self.clock()
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = RefreshGrant(token, client_id, list(scopes), now, now, public)
        return token

    def rotate_refresh_token(self, client_id: str) -> str:
        """Revoke every refresh token of ``client_id`` and return a new one (scopes of the client)."""
        self.revoke_refresh_tokens(client_id=client_id)
        return self.new_refresh_token(client_id, list(self.clients[client_id].scopes))

    def revoke_refresh_tokens(self, *, client_id: str | None = None, token: str | None = None) -> int:
        """Revoke one refresh token, or all of a client's; return how many were revoked."""
        doomed = [t for t, g in self.refresh_tokens.items() if t == token or (client_id and g.client_id == client_id)]
        for t in doomed:
            del self.refresh_tokens[t]
        return len(doomed)

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

    def list_names_match(self, name: str, other: str) -> bool:
        """Compare list names as ``list_name_case`` says (S12 wants them unique; the case rule is unknown)."""
        if self.config.list_name_case == "insensitive":
            return name.casefold() == other.casefold()
        return name == other

    def live_list_named(self, name: str, *, other_than: str | None = None) -> ContactList | None:
        return next(
            (
                lst
                for lst in self.lists.values()
                if lst.deleted_at is None and self.list_names_match(lst.name, name) and lst.list_id != other_than
            ),
            None,
        )

    @staticmethod
    def list_conflict(name: str, existing: ContactList) -> SandboxError:
        return SandboxError.api(
            409, CONFLICT, f"Conflict. A contact list named '{name}' already exists (list_id {existing.list_id})."
        )

    def create_list(self, name: str, description: str | None, favorite: bool) -> ContactList:
        """Create a list; 409 for a name in use (see ``list_name_case``), 400 past the account's list limit."""
        with self.lock:
            existing = self.live_list_named(name)
            if existing is not None:
                raise self.list_conflict(name, existing)
            if sum(lst.deleted_at is None for lst in self.lists.values()) >= self.config.max_lists:
                raise SandboxError.validation(
                    f"The account already has the maximum of {self.config.max_lists} contact lists."
                )
            now = self.clock()
            lst = ContactList(new_id(), self.next_seq(), name, description, favorite, now, now)
            self.lists[lst.list_id] = lst
            return lst

    def live_list(self, list_id: str) -> ContactList | None:
        lst = self.lists.get(list_id)
        return lst if lst is not None and lst.deleted_at is None else None

    def membership_counts(self, *, active_only: bool) -> Counter[str]:
        """Count members per list id (``active_only``: contacts whose status is ``active``)."""
        counts: Counter[str] = Counter()
        for contact in self.contacts.values():
            if contact.deleted_at is not None or (active_only and contact.status != "active"):
                continue
            counts.update(contact.list_ids)
        return counts

    # -- contacts and custom fields ----------------------------------------------------------------

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
            self.index_contact(contact)
            return contact

    def index_contact(self, contact: Contact) -> None:
        if contact.email:
            self._by_email[contact.email.lower()] = contact.contact_id
        if contact.sms_number:
            self._by_sms[contact.sms_number] = contact.contact_id

    def index_sms(self, contact: Contact) -> None:
        self.index_contact(contact)

    def change_email(self, contact: Contact, email: str) -> None:
        if contact.email:
            self._by_email.pop(contact.email.lower(), None)
        contact.email = email
        self.index_contact(contact)

    def custom_field_named(self, name: str) -> CustomField | None:
        return next((cf for cf in self.custom_fields.values() if cf.name == name), None)

    # -- activities ------------------------------------------------------------------------------

    def add_activity(self, activity: Activity) -> None:
        with self.lock:
            self.activities[activity.activity_id] = activity

    def new_activity(self, kind: str, **attrs: Any) -> Activity:
        """Queue an activity of ``kind`` (429 past the queue limit); arm it with a matching activity fault."""
        with self.lock:
            queued = sum(a.state not in TERMINAL_STATES for a in self.activities.values())
            if queued >= self.config.max_queued_activities:
                limit = f"{self.config.max_queued_activities:,}"
                message = f"Too many requests. You exceeded {limit} queued activities for this user account."
                # The message is the spec's; its error_key is not documented (a switch).
                raise SandboxError(429, error_object(self.config.queue_full_error_key, message))
            now = self.clock()
            activity = Activity(
                activity_id=new_id(),
                kind=kind,
                created_at=now,
                start_at=now + self.config.activity_start_delay,
                rows_per_second=self.config.activity_rows_per_second,
                updated_at=now,
                seq=self.next_seq(),
                **attrs,
            )
            fault = next((f for f in self.activity_faults if f.kind in (None, kind)), None)
            if fault is not None:
                activity.fate, activity.fate_at_percent, activity.fate_errors = (
                    fault.state,
                    fault.at_percent,
                    fault.errors,
                )
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.activity_faults.remove(fault)
                self.stats.faults_served += 1
            self.activities[activity.activity_id] = activity
            self.stats.activities_created += 1
            return activity

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
            count = len(self.faults) + len(self.activity_faults)
            self.faults.clear()
            self.activity_faults.clear()
            return count

    def count_request(self, key: str) -> None:
        with self.lock:
            self.stats.requests[key] += 1
