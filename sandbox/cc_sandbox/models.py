"""Records held by the sandbox store, and the small helpers they share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

#: ``Contact.permission_to_send`` values (the real API's ``email_address.permission_to_send``).
PERMISSIONS = ("explicit", "implicit", "not_set", "pending_confirmation", "temp_hold", "unsubscribed")

#: Activity states; the last four are terminal.
ACTIVITY_STATES = ("initialized", "processing", "completed", "cancelled", "failed", "timed_out")
TERMINAL_STATES = frozenset({"completed", "cancelled", "failed", "timed_out"})


def new_id() -> str:
    """Return a new resource id (a UUID4 string, as the real API uses)."""
    return str(uuid.uuid4())


def iso(epoch: float) -> str:
    """Format a wall-clock epoch as ISO-8601 UTC with a ``Z`` suffix, e.g. ``2026-11-22T17:21:51Z``."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The offset of the API's offset timestamps (seed 002: ``2018-02-23T13:38:28-05:00``; CC is in US Eastern).
API_OFFSET = timezone(timedelta(hours=-5))


def stamp(epoch: float, style: str, spec_form: str) -> str:
    """Render a timestamp in ``timestamp_style`` ``style``; ``"spec"`` uses the field's ``spec_form``.

    Forms: ``millis_z`` (``2016-01-23T13:48:44.108Z``, the spec's examples), ``offset``
    (``2018-02-23T13:38:28-05:00``, seed 002 and the spec's contact examples), ``seconds_z``
    (``2016-01-23T13:48:44Z``).
    """
    form = spec_form if style == "spec" else style
    if form == "offset":
        return datetime.fromtimestamp(epoch, tz=API_OFFSET).isoformat(timespec="seconds")
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    if form == "millis_z":
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- OAuth -----------------------------------------------------------------------------------------


@dataclass
class Client:
    """An application (API key); ``client_secret`` is ``None`` for a public (PKCE or device) client."""

    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    refresh_token_mode: str = "long_lived"


@dataclass
class RefreshGrant:
    """A refresh token still honoured, with the scopes it grants."""

    token: str
    client_id: str
    scopes: list[str]
    issued_at: float
    last_used_at: float
    public: bool = False  # obtained through PKCE or the device flow: refreshable without the secret


@dataclass
class IssuedToken:
    """An access token the sandbox issued and still honours."""

    jti: str
    client_id: str
    issued_at: float
    expires_at: float


@dataclass
class AuthCode:
    """A single-use authorization code from ``/authorize``."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    code_challenge: str | None = None


@dataclass
class DeviceCode:
    """A device-flow grant: ``pending`` until approved (or denied) on the verification page."""

    device_code: str
    user_code: str
    client_id: str
    scopes: list[str]
    expires_at: float
    status: str = "pending"
    last_poll_at: float = 0.0


# -- account data ----------------------------------------------------------------------------------


@dataclass
class ContactList:
    """A contact list."""

    list_id: str
    seq: int
    name: str
    description: str | None
    favorite: bool
    created_at: float
    updated_at: float
    deleted_at: float | None = None


@dataclass
class CustomField:
    """A contact custom field; ``name`` (the label with underscores) is what ``cf:`` columns name."""

    custom_field_id: str
    seq: int
    label: str
    name: str
    type: str
    created_at: float
    updated_at: float
    choices: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    version: int | None = None


@dataclass
class Contact:
    """A contact; ``fields`` holds the optional properties under their JSON-import names.

    ``custom_fields`` maps a custom field id to its value.
    """

    contact_id: str
    seq: int
    email: str | None
    created_at: float
    updated_at: float
    permission_to_send: str = "implicit"
    opt_in_source: str = "Account"
    opt_in_date: float | None = None
    create_source: str = "Account"
    update_source: str = "Account"
    sms_number: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)
    list_ids: list[str] = field(default_factory=list)
    deleted_at: float | None = None
    opt_out_date: float | None = None
    opt_out_source: str | None = None  # "Account" or "Contact" while unsubscribed (S1 EmailAddress)
    resubscribe_list_ids: list[str] | None = None  # a resubscribe email was sent and awaits the contact

    @property
    def status(self) -> str:
        """Return the ``GET /contacts?status=`` bucket: ``deleted``, ``active`` or the permission."""
        if self.deleted_at is not None:
            return "deleted"
        if self.permission_to_send in ("explicit", "implicit"):
            return "active"
        return self.permission_to_send


# -- activities ------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One contact of an import, with its 1-based line number (JSON: position; CSV: file line)."""

    line: int
    data: dict[str, Any]


@dataclass
class Activity:
    """A bulk activity: imports process ``rows``, the other kinds process ``items`` (contact or list ids)."""

    activity_id: str
    kind: str
    created_at: float
    start_at: float
    rows_per_second: float
    rows: list[ImportRow] = field(default_factory=list)
    list_ids: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    state: str = "initialized"
    updated_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    processed: int = 0
    imported: int = 0  # import rows upserted into the account
    error_count: int = 0  # non-correctable row errors (S1)
    correctable_count: int = 0  # bad email, birthday or anniversary, no email or SMS number (S1)
    cannot_add_to_list_count: int = 0
    rejected: int = 0  # import rows not imported
    fields_dropped: int = 0  # import rows imported without a bad birthday or anniversary
    list_full: int = 0  # import rows whose contact already was on 50 lists
    row_errors: list[str] = field(default_factory=list)  # "Line N: reason", shown per activity_errors_style
    errors: list[str] = field(default_factory=list)  # about the whole activity (faults, admin calls)
    dropped: int = 0
    seq: int = 0
    items: list[str] = field(default_factory=list)
    source_file_name: str | None = None
    header_rows: int = 0
    fate: str | None = None  # state an activity fault sends it to, at ``fate_at_percent``
    fate_at_percent: int = 50
    fate_errors: list[str] = field(default_factory=list)
    frozen: bool = False  # no longer advances (a fault or an admin call set its state)
    result: str | None = None  # the CSV of a finished export

    @property
    def total(self) -> int:
        """Items to process (after truncation)."""
        return len(self.rows) if self.rows else len(self.items)

    @property
    def percent_done(self) -> int:
        """0-99 while unfinished, 100 once completed."""
        if self.state == "completed":
            return 100
        return min(99, self.processed * 100 // self.total) if self.total else 0


# -- fault injection -------------------------------------------------------------------------------


@dataclass
class Fault:
    """A canned answer for the next ``remaining`` requests to ``method path``."""

    fault_id: str
    path: str
    method: str | None
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int
    drop_connection: bool = False
    delay: float = 0.0
    custom_body: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.path == path and (self.method is None or self.method == method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "body": self.body,
            "headers": self.headers,
            "remaining": self.remaining,
            "drop_connection": self.drop_connection,
            "delay": self.delay,
        }


@dataclass
class ActivityFault:
    """Send the next ``remaining`` new activities (of ``kind``, or any) to ``state`` at ``at_percent``."""

    fault_id: str
    state: str
    kind: str | None
    remaining: int
    at_percent: int = 50
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault_id": self.fault_id,
            "state": self.state,
            "kind": self.kind,
            "remaining": self.remaining,
            "at_percent": self.at_percent,
            "errors": list(self.errors),
        }
