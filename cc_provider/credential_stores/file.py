"""``file:PATH`` token store: a JSON file guarded by ``flock``, written by atomic rename."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from cc_provider.credential_stores._base import StoreLock, TokenRecord, TokenStore


class FileTokenStore(TokenStore):
    """
    A JSON file (mode 0600) plus ``<file>.lock``; safe across the processes of one host.

    The lock is an exclusive ``flock`` on the lock file, so it dies with its holder. Records are written
    to a temporary file in the same directory, fsynced and renamed over the old one: a reader sees the
    old record or the new one, never half of one, and a crash never loses the last good record.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @property
    def description(self) -> str:
        return f"file {self.path}"

    def load(self) -> TokenRecord | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return TokenRecord.from_json(text, self.description)

    def try_lock(self) -> StoreLock | None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return _FileLock(fd)

    def save(self, record: TokenRecord, expected_refresh_token: str | None) -> bool:
        if not self._matches(expected_refresh_token):
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(record.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True


class _FileLock(StoreLock):
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:  # a lock taken for a flow that was cancelled meanwhile must not outlive it
        self.release()
