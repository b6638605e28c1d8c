"""
Where the provider reads and writes files: a local path, a ``file://`` URL, or object storage.

A location is a path (``str`` or ``os.PathLike``), a URL (``s3://bucket/key``, ``gs://``, ``abfs://``,
``memory://``, ..., with an optional Airflow connection id as user: ``s3://aws_default@bucket/key``)
or an Airflow :class:`~airflow.sdk.ObjectStoragePath`. Local paths and ``file://`` URLs are used in
place; anything else goes through the filesystem Airflow attaches for its scheme (the providers the
user installed), else fsspec's own (``memory://`` for tests). Copies are streamed in chunks, so memory
does not grow with the file.
"""

from __future__ import annotations

import fcntl
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import fsspec  # type: ignore[import-untyped]
from airflow.sdk import ObjectStoragePath
from fsspec import AbstractFileSystem

Location = str | os.PathLike[str] | ObjectStoragePath
LOCAL_SCHEMES = frozenset({"", "file", "local"})
CHUNK_BYTES = 1 << 20
#: ``stat()`` keys, by filesystem, that change when an object is rewritten (first found wins).
VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "version_id", "mtime", "LastModified", "last_modified")


def as_storage_path(location: Location) -> ObjectStoragePath:
    """Return ``location`` as an :class:`ObjectStoragePath` (a plain path becomes ``file://``)."""
    if isinstance(location, ObjectStoragePath):
        return location
    text = os.fspath(location)
    if not urlsplit(text).scheme:
        text = "file://" + os.path.abspath(text)
    return ObjectStoragePath(text)


def local_path(location: Location) -> str | None:
    """Return the local file system path of ``location``, or ``None`` when it is in object storage."""
    if isinstance(location, ObjectStoragePath):
        return location.path if (location.protocol or "") in LOCAL_SCHEMES else None
    text = os.fspath(location)
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # no scheme (or a Windows drive letter)
        return text
    return as_storage_path(text).path if parts.scheme in LOCAL_SCHEMES else None


def is_remote(location: Location | None) -> bool:
    """Whether ``location`` is in object storage (not a local path or ``file://`` URL)."""
    return location is not None and local_path(location) is None


def url(location: Location) -> str:
    """Return ``location`` as a string that :func:`as_storage_path` reads back (with its connection id)."""
    return str(location) if isinstance(location, ObjectStoragePath) else os.fspath(location)


def filesystem(path: ObjectStoragePath) -> AbstractFileSystem:
    """The filesystem Airflow attaches to the path's scheme and connection, else fsspec's own."""
    try:
        return path.fs
    except ValueError:  # "No filesystem registered for scheme ...": no provider brings it
        return fsspec.filesystem(path.protocol, **path.storage_options)


def identity(location: Location) -> dict[str, Any]:
    """Identify an object cheaply: its URL, size and version (etag or modification time), where known."""
    path = as_storage_path(location)
    info = filesystem(path).info(path.path)
    version = next((info[key] for key in VERSION_KEYS if info.get(key) is not None), info.get("created"))
    return {"url": url(location), "size": info.get("size"), "version": str(version) if version is not None else None}


def open_read(location: Location) -> IO[bytes]:
    """Open ``location`` for reading bytes."""
    local = local_path(location)
    if local is not None:
        return open(local, "rb")
    path = as_storage_path(location)
    return filesystem(path).open(path.path, "rb")


def open_write(location: Location) -> IO[bytes]:
    """Open ``location`` for writing bytes (parent folders created); object stores upload as it is written."""
    local = local_path(location)
    if local is not None:
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        return open(local, "wb")
    path = as_storage_path(location)
    fs = filesystem(path)
    fs.makedirs(posixpath.dirname(path.path), exist_ok=True)
    return fs.open(path.path, "wb")


def exists(location: Location) -> bool:
    """Whether a file is at ``location``."""
    local = local_path(location)
    if local is not None:
        return os.path.exists(local)
    path = as_storage_path(location)
    return bool(filesystem(path).exists(path.path))


def copy(source: Location, target: Location) -> None:
    """Stream ``source`` to ``target`` in chunks of :data:`CHUNK_BYTES`."""
    with open_read(source) as reader, open_write(target) as writer:
        shutil.copyfileobj(reader, writer, CHUNK_BYTES)


def readable(location: Location, directory: str) -> str:
    """
    Return a local path to read ``location`` from: itself when local, else a streamed copy in ``directory``.

    The copy keeps the object's name (its suffix tells CSV from JSON); the caller owns ``directory``
    and removes it.
    """
    local = local_path(location)
    if local is not None:
        return local
    name = as_storage_path(location).name or "source"
    target = os.path.join(directory, "source", name)
    copy(location, target)
    return target


@contextmanager
def writable(location: Location, directory: str, *, append: bool = False) -> Iterator[str]:
    """
    Yield a local path to write ``location`` through; an object is uploaded from it at the end.

    A local location is yielded as is. For an object, the local file is in ``directory``, holds the
    object's current content first when ``append``, and is uploaded (streamed) when the block ends,
    also when it raises: what was written before a failure is kept, as it is in a local file.
    """
    local = local_path(location)
    if local is not None:
        yield local
        return
    target = os.path.join(directory, "upload", as_storage_path(location).name or "file")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if append and exists(location):
        copy(location, target)
    try:
        yield target
    finally:
        if os.path.exists(target):
            copy(target, location)
            os.remove(target)


@dataclass(frozen=True)
class LocalFiles:
    """
    An import's source and rejects file as local files (see :func:`local_files`).

    :ivar source: the local file to read the source from (itself, or a copy of an object); ``None`` without one.
    :ivar rejects: the local file to write the rejects to (itself, or a file uploaded to the object).
    :ivar remote_source: for an object source, its :func:`identity` (URL, size, version), read before the copy.
    """

    source: str | None
    rejects: str | None
    remote_source: dict[str, Any] | None


@contextmanager
def local_files(source: Location | None, rejects: Location | None, directory: str) -> Iterator[LocalFiles]:
    """
    Make an import's ``source`` and ``rejects`` local files in ``directory`` while the block runs.

    An object source is identified, then copied (streamed), so that a changed object never passes for the
    one identified; an object rejects file is uploaded when the block ends (see :func:`writable`).
    """
    remote = identity(source) if source is not None and is_remote(source) else None
    with writable(rejects, directory) if rejects is not None else nullcontext() as rejects_file:
        yield LocalFiles(readable(source, directory) if source is not None else None, rejects_file, remote)


#: Every scratch folder of the provider starts so; ``scratch_directory`` sweeps the dead ones among them.
SCRATCH_PREFIX = "cc-provider-"
_OWNER_FILE = ".owner"


@contextmanager
def scratch_directory(purpose: str) -> Iterator[str]:
    """
    A local temporary folder for the duration of a task step, removed when the block ends.

    A task killed with SIGKILL (a worker lost, a pod evicted) cannot remove its folder, so each folder
    holds a file its process keeps ``flock``-ed: the kernel drops that lock when the process dies.
    Entering sweeps the folders of ``tempfile.gettempdir()`` whose lock can be taken (their owner is
    gone), so the next task on that worker removes what a killed one left.
    """
    sweep_dead_scratch(tempfile.gettempdir())
    directory = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{purpose}-")
    owner = open(os.path.join(directory, _OWNER_FILE), "wb")  # noqa: SIM115 (held for the block's life)
    try:
        fcntl.flock(owner, fcntl.LOCK_EX)
        yield directory
    finally:
        owner.close()
        shutil.rmtree(directory, ignore_errors=True)


def sweep_dead_scratch(parent: str) -> list[str]:
    """Remove the scratch folders in ``parent`` whose owning process has died; return their paths."""
    removed: list[str] = []
    try:
        entries = [entry for entry in os.scandir(parent) if entry.name.startswith(SCRATCH_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            with open(os.path.join(entry.path, _OWNER_FILE), "rb") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: nobody holds the folder
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        except OSError:  # held by a live task, not ours, or already gone
            continue
    return removed
