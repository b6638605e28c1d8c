"""``--state FILE``: keep a sandbox's state in a SQLite file so it survives a restart.

The whole state is written as JSON records (one row per record, one transaction per snapshot) when it
changed, at most every ``interval`` seconds from a background thread, and once more on a clean stop.
A stop by SIGKILL loses at most the last interval. Armed faults and run-time settings are not kept
(the command line sets them), nor the request log; everything an API client could notice is.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from cc_sandbox.models import (
    Activity,
    AuthCode,
    Client,
    Contact,
    ContactList,
    CustomField,
    DeviceCode,
    ImportRow,
    IssuedToken,
    RefreshGrant,
)
from cc_sandbox.store import SandboxState, Stats

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id));
"""

#: ``kind -> (attribute of SandboxState, record class, id attribute)``.
COLLECTIONS: dict[str, tuple[str, type, str]] = {
    "client": ("clients", Client, "client_id"),
    "refresh_token": ("refresh_tokens", RefreshGrant, "token"),
    "access_token": ("access_tokens", IssuedToken, "jti"),
    "auth_code": ("auth_codes", AuthCode, "code"),
    "device_code": ("device_codes", DeviceCode, "device_code"),
    "list": ("lists", ContactList, "list_id"),
    "custom_field": ("custom_fields", CustomField, "custom_field_id"),
    "contact": ("contacts", Contact, "contact_id"),
    "activity": ("activities", Activity, "activity_id"),
}


def _record(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    data = {key: value for key, value in data.items() if key in known}
    if cls is Client:
        data["scopes"], data["redirect_uris"] = tuple(data["scopes"]), tuple(data.get("redirect_uris", ()))
    if cls is Activity:
        data["rows"] = [ImportRow(**row) for row in data.get("rows", [])]
    return cls(**data)


class StateFile:
    """A SQLite file holding one sandbox's state."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.executescript(SCHEMA)
        return conn

    def load(self, state: SandboxState) -> bool:
        """Replace ``state``'s contents with the file's; ``False`` when the file holds no state yet."""
        if not self.path.exists():
            return False
        conn = self._connect()
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                return False
            if int(meta.get("schema_version", 0)) != SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} was written by another sandbox version; use a new --state file.")
            rows = conn.execute("SELECT kind, data FROM records").fetchall()
        finally:
            conn.close()
        with state.lock:
            for attribute, _, _ in COLLECTIONS.values():
                getattr(state, attribute).clear()
            for kind, data in rows:
                attribute, cls, id_name = COLLECTIONS[kind]
                record = _record(cls, json.loads(data))
                getattr(state, attribute)[getattr(record, id_name)] = record
            for contact in state.contacts.values():
                state.index_contact(contact)
            stats = json.loads(meta["stats"])
            state.stats = Stats(**{**stats, "requests": Counter(stats.get("requests", {}))})
            state.limits.load(json.loads(meta["limits"]))
            state.jwt_secret = meta["jwt_secret"]
            state.clock_offset = float(meta["clock_offset"])
            state.restart_seq(int(meta["seq"]))
            state.ensure_default_client()
            state.changed = False
        return True

    def save(self, state: SandboxState) -> None:
        """Write a snapshot of ``state`` in one transaction."""
        with state.lock:
            state.changed = False
            records = [
                (kind, getattr(record, id_name), json.dumps(asdict(record), separators=(",", ":")))
                for kind, (attribute, _, id_name) in COLLECTIONS.items()
                for record in getattr(state, attribute).values()
            ]
            seq = max([0, *(getattr(r, "seq", 0) for kind in ("lists", "contacts", "custom_fields", "activities")
                            for r in getattr(state, kind).values())])  # fmt: skip
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "jwt_secret": state.jwt_secret,
                "clock_offset": repr(state.clock_offset),
                "seq": str(seq),
                "stats": json.dumps(state.stats.to_dict()),
                "limits": json.dumps(state.limits.to_dict()),
            }
        conn = self._connect()
        try:
            with conn:
                conn.execute("DELETE FROM records")
                conn.executemany("INSERT INTO records (kind, id, data) VALUES (?, ?, ?)", records)
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
        finally:
            conn.close()


class StateWriter:
    """Save a changed state every ``interval`` seconds from a daemon thread, and once more at :meth:`stop`."""

    def __init__(self, state_file: StateFile, state: SandboxState, interval: float = 0.5) -> None:
        self.state_file, self.state, self.interval = state_file, state, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cc-sandbox-state-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.state.changed:
                self.state_file.save(self.state)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.state_file.save(self.state)
