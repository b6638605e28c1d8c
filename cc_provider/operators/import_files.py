"""
Where an import's files are: its source (``path``) and its rejects file, local or in object storage.

:mod:`cc_provider.contacts` reads and writes local files only, so an import reads an object source
from a streamed copy in the task's temporary directory and writes an object rejects file there, to
upload it (streamed) when done. Nothing of it outlives the task on local disk.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from cc_provider import storage
from cc_provider.contacts import PreparedImport
from cc_provider.storage import Location


class ImportFiles:
    """The local files an import's :meth:`prepare` reads and writes, for sources and rejects anywhere."""

    rejects_path: Location | None
    _remote_identity: dict[str, Any] | None = None
    _source_file: str | None = None
    _rejects_file: str | None = None

    @abstractmethod
    def prepare(self) -> PreparedImport:
        """
        Open the source as a :class:`~cc_provider.contacts.PreparedImport`.

        Read :meth:`source_file` and write the rejects to :meth:`rejects_file`: the local files that
        stand for ``path`` and ``rejects_path`` wherever those are.
        """

    def source_file(self) -> str | None:
        """The local file to read ``path`` from (itself, or a copy of an object), while the import reads it."""
        return self._source_file

    def rejects_file(self) -> str | None:
        """The local file to write the rejects to (``rejects_path`` itself, or a file uploaded to it)."""
        return self._rejects_file

    @contextmanager
    def _local_files(self, directory: str, *, rejects: bool = False) -> Iterator[None]:
        """
        Make ``path`` (and with ``rejects``, ``rejects_path``) local files for :meth:`prepare`.

        An object source is copied (streamed) into ``directory`` after its identity is read, so that a
        changed object never resumes another one's record; an object rejects file is written in
        ``directory`` and uploaded when the block ends (also when it raises, as a local file keeps what
        was written). The caller removes ``directory``.
        """
        path: Location | None = getattr(self, "path", None)
        self._remote_identity = storage.identity(path) if path and storage.is_remote(path) else None
        target = storage.writable(self.rejects_path, directory) if rejects and self.rejects_path else nullcontext()
        with target as rejects_file:
            self._source_file = storage.readable(path, directory) if path else None
            self._rejects_file = rejects_file
            try:
                yield
            finally:
                self._source_file = self._rejects_file = None

    def _prepare(self) -> PreparedImport:
        """:meth:`prepare`, with an object source named and identified by its URL, size and version."""
        prepared = self.prepare()
        if self._remote_identity is not None:
            prepared.source_name = self._remote_identity["url"]
            extra = {k: v for k, v in prepared.identity.items() if k == "json_array_key"}
            prepared.identity = {**self._remote_identity, **extra}
        return prepared
