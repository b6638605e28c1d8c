"""The default token store: an Airflow Variable, through the Task SDK in tasks and triggers."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from typing import Any

from cc_provider.credential_stores._base import StoreLock, TokenRecord, TokenStore, mask_secrets
from cc_provider.exceptions import ConstantContactAuthError

VARIABLE_PREFIX = "constant_contact_token__"

log = logging.getLogger(__name__)


class VariableTokenStore(TokenStore):
    """
    An Airflow Variable ``constant_contact_token__<conn_id>`` holding the record as JSON.

    Inside a task or a trigger it goes through the Task SDK (``airflow.sdk.Variable``); elsewhere (the
    API server, the login CLI, a script) through the metadata database. Airflow masks the value because
    the key contains "token"; the tokens are also registered with the secrets masker when read.

    **Locking is best effort.** The Task SDK offers only get, set and delete on Variables: no
    transaction, no compare-and-swap, no lock. A true cross-worker lock cannot be built from that. This
    store uses a lease in a second Variable (``<key>__lease``) taken with Fischer's timed protocol: read
    the lease; if it is free or expired, write your id, wait ``settle_seconds``, read it back, and hold it
    only if your id is still there. A contender whose own read-to-write took longer than
    ``settle_seconds`` gives up whatever it reads back, because its late write may have landed after a
    winner's read-back; so two contenders never both hold the lease, however slow a call is. Such a late
    write lands over the winner's lease, and only a contender that read the lease before the winner's
    write can make one, so it expires within ``settle_seconds`` of the winner's lease: the winner, when
    it releases, clears such a claim too (never a later holder's, nor an expired one). A late write
    with no winner keeps others out until the lease lapses after ``lease_seconds``; it is logged. The
    compare in :meth:`save` is still a read followed by a write.
    What keeps the tokens safe when the lease fails: a refresher that meets ``invalid_grant`` re-reads
    the store (waiting up to ``race_wait_seconds`` for the racing writer) and carries on with the newer
    token, and a refresh token is always saved before its access token is used. A crash between the
    token response and the save still loses the rotation; use ``long_lived`` tokens, a ``file:`` store
    or your own store class when that is not acceptable.

    :param conn_id: the connection whose tokens this is.
    :param key: Variable key (default ``constant_contact_token__<conn_id>``).
    :param lease_seconds: how long a lease lasts if its holder never releases it.
    :param settle_seconds: Fischer's wait between writing the lease and reading it back.
    :param race_wait_seconds: after ``invalid_grant``, how long to wait for a racing writer's record.
    :param use_here: whether ``long_lived`` tokens use the store in this process (default: inside tasks,
        triggers and Airflow's server processes, where a metadata database or the Task SDK is at hand).
    """

    exclusive = False
    poll_seconds = 0.5

    def __init__(
        self,
        conn_id: str,
        *,
        key: str | None = None,
        lease_seconds: float = 60.0,
        settle_seconds: float = 1.0,
        race_wait_seconds: float = 10.0,
        use_here: bool | None = None,
    ) -> None:
        self.key = key or f"{VARIABLE_PREFIX}{conn_id}"
        self.lease_key = f"{self.key}__lease"
        self.conn_id = conn_id
        self.lease_seconds = lease_seconds
        self.settle_seconds = settle_seconds
        self.race_wait_seconds = race_wait_seconds
        self.use_here = use_here

    @property
    def description(self) -> str:
        return f"Airflow Variable {self.key}"

    # -- Variable access: Task SDK inside tasks and triggers, the metadata DB elsewhere ------------

    @staticmethod
    def _in_task_sdk() -> bool:
        runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
        return getattr(runner, "SUPERVISOR_COMMS", None) is not None

    def _get(self, key: str) -> str | None:
        if self._in_task_sdk():
            from airflow.sdk import SecretCache, Variable

            SecretCache.invalidate_variable(key)  # never act on a cached (stale) record
            value = Variable.get(key, default=None)
        else:
            from airflow.models.variable import Variable as DbVariable

            value = DbVariable.get(key, default_var=None)
        return None if value is None else str(value)

    def _set(self, key: str, value: str, description: str) -> None:
        if self._in_task_sdk():
            from airflow.sdk import Variable

            Variable.set(key, value, description=description)
        else:
            from airflow.models.variable import Variable as DbVariable

            DbVariable.set(key, value, description=description)

    # -- the store ------------------------------------------------------------------------------------

    def available(self) -> bool:
        # Outside tasks, triggers and Airflow's server processes a read goes to a metadata database that a
        # script or a test may not have: long-lived tokens then simply use the connection's refresh token.
        if self.use_here is not None:
            return self.use_here
        return self._in_task_sdk() or os.environ.get("_AIRFLOW_PROCESS_CONTEXT") == "server"

    @classmethod
    def of_client(cls, client_id: str) -> list[VariableTokenStore]:
        """
        The stores whose record holds tokens of ``client_id`` (Variables of the metadata database only:
        the Task SDK lists no others), usable by ``long_lived`` tokens here.
        """
        keys = set(cls._keys())
        found = []
        for key in sorted(keys):
            if key.endswith("__lease") and key.removesuffix("__lease") in keys:
                continue
            store = cls(key.removeprefix(VARIABLE_PREFIX), use_here=True)
            try:
                record = store.load()
            except ConstantContactAuthError:  # not a token record: not a store
                continue
            if record is not None and record.client_id == client_id:
                found.append(store)
        return found

    @classmethod
    def _keys(cls) -> list[str]:
        """Keys of the metadata database's Variables that may be token stores."""
        if cls._in_task_sdk():
            from airflow.sdk import Variable

            keys = list(Variable.keys(prefix=VARIABLE_PREFIX))
        else:
            from airflow.models.variable import Variable as DbVariable
            from airflow.utils.session import create_session
            from sqlalchemy import select

            with create_session() as session:
                query = select(DbVariable.key).where(DbVariable.key.startswith(VARIABLE_PREFIX, autoescape=True))
                keys = list(session.scalars(query))
        return [key for key in keys if key.startswith(VARIABLE_PREFIX)]

    def load(self) -> TokenRecord | None:
        text = self._get(self.key)
        if not text:
            return None
        record = TokenRecord.from_json(text, self.description)
        mask_secrets(record.refresh_token, record.access_token)
        return record

    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        if not self._matches(expected_refresh_token):
            return False
        mask_secrets(record.refresh_token, record.access_token)
        self._set(
            self.key,
            record.to_json(),
            f"OAuth tokens of Constant Contact connection {self.conn_id}, kept by cc_provider. Do not edit.",
        )
        stored = self.load()
        if stored is None or stored.refresh_token != record.refresh_token:
            raise ConstantContactAuthError(
                f"Saved the rotated refresh token to {self.description}, but reading it back returns another "
                "value: a secrets backend or an AIRFLOW_VAR_ environment variable defines this key and hides "
                "the metadata database. Remove it there, or set the connection extra 'credential_store' to 'file:PATH'."
            )
        return True

    def try_lock(self) -> StoreLock | None:
        now = time.time()
        started = time.monotonic()
        lease = self._read_lease()
        if lease is not None and lease.get("expires_at", 0) > now:
            return None
        me, expires_at = uuid.uuid4().hex, now + self.lease_seconds
        self._set(
            self.lease_key,
            json.dumps({"holder": me, "expires_at": expires_at}),
            f"Refresh lease for Constant Contact connection {self.conn_id}, kept by cc_provider.",
        )
        # Fischer's bound: if my write landed within settle of my read, which found no lease, any rival
        # that wrote after my read read back after my write landed (it slept settle once its own write
        # had landed), so it saw my id and lost. A slower write may have landed after a winner's read-back.
        took = time.monotonic() - started
        if took > self.settle_seconds:
            log.warning(
                "Taking the refresh lease in %s took %.1f s, more than its settle time (%.1f s): giving up. "
                "Unless a refresher that took it meanwhile clears it, the lease lapses in %.0f s.",
                self.lease_key,
                took,
                self.settle_seconds,
                self.lease_seconds,
            )
            return None
        time.sleep(self.settle_seconds)
        lease = self._read_lease()
        if lease is None or lease.get("holder") != me:
            return None
        return _VariableLease(self, me, expires_at=expires_at)

    def _read_lease(self) -> dict[str, Any] | None:
        text = self._get(self.lease_key)
        try:
            lease = json.loads(text) if text else None
        except ValueError:
            return None
        return lease if isinstance(lease, dict) else None

    def _release(self, holder: str, expires_at: float) -> None:
        """Free the lease I hold until ``expires_at``: my own claim, or a late write over it."""
        lease = self._read_lease()
        if lease is None:
            return
        if lease.get("holder") != holder:
            # A claim written after my read-back comes from a contender that read the lease before my
            # write landed and gave up (see try_lock): it expires within settle of my lease. A later
            # holder's claim expires later than that (it read after my read-back); an expired claim may
            # be being taken right now. Those two are left alone.
            claimed_until = float(lease.get("expires_at", 0))
            if not time.time() + self.settle_seconds < claimed_until <= expires_at + self.settle_seconds:
                return
        self._set(self.lease_key, json.dumps({"holder": None, "expires_at": 0}), "released")


class _VariableLease(StoreLock):
    def __init__(self, store: VariableTokenStore, holder: str, *, expires_at: float) -> None:
        self._store: VariableTokenStore | None = store
        self._holder = holder
        self._expires_at = expires_at

    def release(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            with contextlib.suppress(Exception):  # an unreleased lease lapses after lease_seconds
                store._release(self._holder, self._expires_at)
