"""
Credential stores: where the current refresh token, access token and expiry of a connection live.

Every worker and the triggerer read the same store, so a rotated refresh token is seen everywhere and
an access token is shared instead of being fetched per task (with ``long_lived`` tokens too). The
contract is :class:`TokenStore` (see :mod:`cc_provider.credential_stores._base`). Implementations:
:class:`~cc_provider.credential_stores.file.FileTokenStore` (``file:PATH``; ``flock`` and atomic rename,
safe across processes on one host or a shared file system with working ``flock``),
:class:`~cc_provider.credential_stores.sql.SqlTokenStore` (``sql:CONN_ID``; a table in a PostgreSQL or
SQLite database, locked by the database: safe across hosts),
:class:`~cc_provider.credential_stores.variable.VariableTokenStore` (the default; an Airflow Variable,
with a best-effort lease, see its docstring) and :class:`MemoryTokenStore` (one process; tests and
embedding). A dotted class path in the connection extra ``credential_store`` names your own.
"""

from __future__ import annotations

import importlib
from typing import Any

from cc_provider.credential_stores._base import MemoryTokenStore, StoreLock, TokenRecord, TokenStore, mask_secrets
from cc_provider.credential_stores.file import FileTokenStore
from cc_provider.credential_stores.sql import SqlTokenStore
from cc_provider.credential_stores.variable import VariableTokenStore

__all__ = [
    "FileTokenStore",
    "MemoryTokenStore",
    "SqlTokenStore",
    "StoreLock",
    "TokenRecord",
    "TokenStore",
    "VariableTokenStore",
    "mask_secrets",
    "store_from_spec",
]

#: Class paths of the built-in stores before they moved here; connections may still name them.
MOVED_CLASSES = {
    "cc_provider.hooks.token_store.MemoryTokenStore": MemoryTokenStore,
    "cc_provider.hooks.file_store.FileTokenStore": FileTokenStore,
    "cc_provider.hooks.variable_store.VariableTokenStore": VariableTokenStore,
}


def store_from_spec(spec: str | None, conn_id: str) -> TokenStore:
    """
    Build the store named by the connection extra ``credential_store`` (no I/O).

    ``variable`` (default): :class:`VariableTokenStore`; ``file:PATH``: :class:`FileTokenStore`;
    ``sql:CONN_ID``: :class:`SqlTokenStore` in the database of Airflow connection ``CONN_ID``;
    ``package.module.Class``: your :class:`TokenStore` subclass, built as ``Class(conn_id=conn_id)``.
    """
    spec = (spec or "variable").strip()
    if spec == "variable":
        return VariableTokenStore(conn_id)
    if spec.startswith("file:"):
        path = spec[len("file:") :].strip()
        if not path:
            raise ValueError(
                f"Connection '{conn_id}': credential_store 'file:' needs a path, e.g. 'file:/var/lib/cc.json'."
            )
        return FileTokenStore(path)
    if spec.startswith("sql:"):
        sql_conn_id = spec[len("sql:") :].strip()
        if not sql_conn_id:
            raise ValueError(
                f"Connection '{conn_id}': credential_store 'sql:' needs the id of a database connection, "
                "e.g. 'sql:tokens_db'."
            )
        return SqlTokenStore(sql_conn_id, conn_id=conn_id)
    module_name, _, class_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(
            f"Connection '{conn_id}': credential_store must be 'variable', 'file:PATH' or a dotted class path "
            f"(or 'sql:CONN_ID' for a database), not {spec!r}."
        )
    cls = MOVED_CLASSES.get(spec)
    if cls is None:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"Connection '{conn_id}': cannot import credential_store class {spec!r} ({err}).") from err
    if not (isinstance(cls, type) and issubclass(cls, TokenStore)):
        raise ValueError(f"Connection '{conn_id}': credential_store {spec!r} is not a TokenStore subclass.")
    factory: Any = cls  # subclasses take conn_id; the base class declares no constructor
    store: TokenStore = factory(conn_id=conn_id)
    return store
