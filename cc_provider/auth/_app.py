"""
The app being authorized, and where its new refresh token goes: the connection's credential store, or
a connection file (mode 0600) for ``airflow connections import``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from cc_provider.credential_stores import TokenRecord, TokenStore, store_from_spec
from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks._connection import EXTRA_ALIASES, extra_value
from cc_provider.hooks._http import DEFAULT_AUTH_BASE_URL, token_url

SECRET_ENV = "CC_CLIENT_SECRET"


class CliError(Exception):
    """A failure to report in one sentence, with exit status 1."""


@dataclass
class App:
    """The app being authorized and the connection that will use it."""

    conn_id: str
    client_id: str
    client_secret: str | None = field(repr=False)
    auth_base_url: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    connection: Any = field(default=None, repr=False)

    @property
    def token_url(self) -> str:
        return token_url(self.auth_base_url)

    def store(self) -> TokenStore:
        return store_from_spec(extra_value(self.extra, "credential_store"), self.conn_id)


def _find_connection(conn_id: str) -> Any | None:
    """The connection from env vars / secrets backends, else from the metadata database; ``None`` if absent."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        pass
    try:
        from airflow.models.connection import Connection as DbConnection

        return DbConnection.get_connection_from_secrets(conn_id)
    except Exception:
        return None


def resolve_app(args: argparse.Namespace) -> App:
    conn = _find_connection(args.conn_id)
    extra = dict(conn.extra_dejson) if conn is not None else {}
    client_id = args.client_id or (conn.login if conn is not None else None)
    client_secret = os.environ.get(SECRET_ENV) or (conn.password if conn is not None else None)
    if not client_id:
        raise CliError(
            f"No connection '{args.conn_id}' was found and no --client-id was given: pass the app's API key "
            f"with --client-id (and its secret in ${SECRET_ENV}), or create the connection first."
        )
    auth_base_url = args.auth_base_url or extra.get("auth_base_url") or DEFAULT_AUTH_BASE_URL
    return App(args.conn_id, str(client_id), client_secret or None, str(auth_base_url).rstrip("/"), extra, conn)


def check_file_options(app: App, args: argparse.Namespace) -> None:
    """Fail before anyone is asked to consent when the options for a connection file do not fit."""
    if not args.connection_file:
        options = (("--api-base-url", args.api_base_url), ("--refresh-mode", args.refresh_mode))
        given = [flag for flag, value in options if value]
        if given:
            raise CliError(f"{' and '.join(given)} only go with --connection-file (they are written to it).")
    elif not app.client_secret:
        raise CliError(
            f"--connection-file writes the client secret too: put it in ${SECRET_ENV} (never on the command "
            "line), or create the connection first."
        )


def save(store: TokenStore, record: TokenRecord, timeout: float = 30.0) -> str:
    """Write ``record`` under the store's lock, replacing whatever it held (a login is the newest grant)."""
    deadline = time.time() + timeout
    while (held := store.try_lock()) is None:
        if time.time() > deadline:
            raise CliError(f"Could not lock {store.description}: another process keeps refreshing. Try again.")
        time.sleep(store.poll_seconds)
    try:
        for _ in range(3):
            try:
                current = store.load()
            except ConstantContactError as err:
                raise CliError(f"{err} Then run this command again.") from None
            if store.save(record, current.refresh_token if current is not None else None):
                return store.description
        raise CliError(f"{store.description} kept changing while saving; try again.")
    finally:
        held.release()


def write_connection_file(app: App, refresh_token: str, args: argparse.Namespace, out: TextIO) -> None:
    """
    Write the connection, refresh token included, for ``airflow connections import`` (mode 0600), and
    print the commands to import and delete it: none of them carries a secret.
    """
    assert app.client_secret is not None
    extra = {k: v for k, v in app.extra.items() if v is not None}
    extra["refresh_token"] = refresh_token
    if app.auth_base_url != DEFAULT_AUTH_BASE_URL:
        extra["auth_base_url"] = app.auth_base_url
    if args.api_base_url:
        extra["api_base_url"] = args.api_base_url.rstrip("/")
    if args.refresh_mode:
        extra.pop(EXTRA_ALIASES["refresh_mode"], None)
        extra["refresh_mode"] = args.refresh_mode
    connection = {
        "conn_type": "constant_contact",
        "login": app.client_id,
        "password": app.client_secret,
        "extra": json.dumps(extra),
    }
    path = os.path.abspath(args.connection_file)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a file that existed keeps its mode otherwise
        json.dump({app.conn_id: connection}, handle, indent=2)
        handle.write("\n")
    import_command = ["airflow", "connections", "import", path]
    if app.connection is not None:
        import_command.append("--overwrite")  # it replaces the connection: the file has its login, secret, extras
    print(
        f"Wrote connection '{app.conn_id}' with the client secret and the new refresh token to {path} "
        "(readable by you only). Import it into Airflow, then delete it:\n",
        file=out,
    )
    print(f"    {shlex.join(import_command)}", file=out)
    print(f"    rm {shlex.quote(path)}\n", file=out)
