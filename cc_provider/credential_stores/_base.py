"""
The contract every token store keeps, a store in memory, and the one helper that masks secrets.

A store offers three operations:

- :meth:`TokenStore.load`: the current :class:`TokenRecord`, or ``None``;
- :meth:`TokenStore.try_lock`: one attempt to take the refresh lock (a :class:`StoreLock` or ``None``);
- :meth:`TokenStore.save`: write a record *if the stored refresh token is still the expected one*
  (compare and swap), called while the lock is held.
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from cc_provider.exceptions import ConstantContactAuthError

RECORD_VERSION = 1


@dataclass(frozen=True)
class TokenRecord:
    """
    What a store holds for one connection.

    :param refresh_token: the refresh token to use next.
    :param access_token: the last access token obtained (``None`` before the first refresh).
    :param expires_at: wall-clock epoch at which ``access_token`` expires (0 if none).
    :param obtained_at: wall-clock epoch at which the tokens were obtained.
    :param client_id: the app the tokens belong to; a record of another app is ignored.
    """

    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    obtained_at: float = 0.0
    client_id: str | None = None

    def to_json(self) -> str:
        return json.dumps({"version": RECORD_VERSION, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> TokenRecord:
        """Parse a stored record; raise :class:`ConstantContactAuthError` naming ``where`` if it is unusable."""
        try:
            data = json.loads(text)
            token = data["refresh_token"]
            if not isinstance(token, str) or not token:
                raise ValueError("no refresh token")
            return cls(
                refresh_token=token,
                access_token=data.get("access_token") or None,
                expires_at=float(data.get("expires_at") or 0.0),
                obtained_at=float(data.get("obtained_at") or 0.0),
                client_id=data.get("client_id"),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ConstantContactAuthError(
                f"The token store {where} does not hold a valid token record (JSON with a 'refresh_token'). "
                "Delete it, or write a new refresh token to it with `python -m cc_provider.auth`."
            ) from None


class StoreLock(ABC):
    """A held refresh lock; :meth:`release` must be quick and must not raise."""

    @abstractmethod
    def release(self) -> None: ...


class TokenStore(ABC):
    """Shared storage for one connection's tokens."""

    #: ``True`` when :meth:`try_lock` gives true mutual exclusion; ``False`` for a best-effort lease,
    #: in which case a refresher that meets ``invalid_grant`` waits a little for a racing writer.
    exclusive: bool = True

    #: Seconds a refresher waits for a racing writer after ``invalid_grant`` (0 for exclusive stores).
    race_wait_seconds: float = 0.0

    #: Seconds between looks at the store while another process holds the lock.
    poll_seconds: float = 0.05

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the tokens live, for messages (never the tokens themselves)."""

    @abstractmethod
    def load(self) -> TokenRecord | None:
        """Return the stored record, or ``None`` when the store is empty."""

    def available(self) -> bool:
        """Tell whether ``long_lived`` tokens should use this store in this process at all (no I/O)."""
        return True

    def peek(self) -> TokenRecord | None:
        """
        Read the record for ``long_lived`` tokens, which must never depend on the store: ``None`` when the
        store cannot be read here. Never raises.
        """
        if not self.available():
            return None
        try:
            return self.load()
        except Exception as err:
            logging.getLogger(__name__).warning("Could not read the token store %s: %s", self.description, err)
            return None

    @abstractmethod
    def try_lock(self) -> StoreLock | None:
        """Try once to take the refresh lock; ``None`` when another process holds it."""

    @abstractmethod
    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        """
        Store ``record`` if the stored refresh token is ``expected_refresh_token`` (``None``: the store is
        empty); return whether it was written. Call it while holding the lock.
        """

    def _matches(self, expected: str | None) -> bool:
        current = self.load()
        return (current.refresh_token if current is not None else None) == expected


class MemoryTokenStore(TokenStore):
    """A store inside one process (tests, or embedding the hook in a single long-running program)."""

    def __init__(self, record: TokenRecord | None = None) -> None:
        self.record = record
        self._lock = threading.Lock()
        self.saves = 0

    @property
    def description(self) -> str:
        return "in memory"

    def load(self) -> TokenRecord | None:
        return self.record

    def try_lock(self) -> StoreLock | None:
        return _ThreadLock(self._lock) if self._lock.acquire(blocking=False) else None

    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        if not self._matches(expected_refresh_token):
            return False
        self.record = record
        self.saves += 1
        return True


class _ThreadLock(StoreLock):
    def __init__(self, lock: threading.Lock) -> None:
        self._lock: threading.Lock | None = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def mask_secrets(*secrets: str | None) -> None:
    """Register secrets (tokens, the client secret) with Airflow's log masker; empty values are skipped."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)
