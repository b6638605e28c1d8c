"""Run the sandbox with uvicorn in a background thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from cc_sandbox.app import create_app
from cc_sandbox.config import SandboxConfig
from cc_sandbox.persistence import StateFile, StateWriter
from cc_sandbox.store import SandboxState

START_TIMEOUT = 10.0


class SandboxServer:
    """Serve a sandbox on ``host:port`` (port 0 picks a free one) from a daemon thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. With ``state_file`` the state is
    loaded from that SQLite file at start (when it holds one) and kept in it while serving.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_file: str | Path | None = None,
    ) -> None:
        self._config = config or SandboxConfig()
        self.state_file = StateFile(state_file) if state_file is not None else None
        self._writer: StateWriter | None = None
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.app: FastAPI = create_app(self._config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def config(self) -> SandboxConfig:
        """The start-up settings (run-time changes live in ``state.config``)."""
        return self._config

    @property
    def state(self) -> SandboxState:
        """The in-memory state, for in-process tests."""
        state: SandboxState = self.app.state.sandbox
        return state

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("The sandbox is not started; call start() first.")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.url + "/v3"

    @property
    def auth_base_url(self) -> str:
        return self.url + "/oauth2/default/v1"

    @property
    def token_url(self) -> str:
        return self.auth_base_url + "/token"

    def start(self) -> SandboxServer:
        """Bind the socket, start serving and wait until requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("The sandbox is already running.")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(f"Cannot bind the sandbox to {self.host}:{self._requested_port}: {exc}") from exc
        self._socket, self._port = sock, sock.getsockname()[1]
        if self.state_file is not None:
            try:
                self.state_file.load(self.state)
            except Exception:
                self.stop()
                raise
            self._writer = StateWriter(self.state_file, self.state)
            self._writer.start()
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", ws="none", http="h11")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"cc-sandbox-{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The sandbox did not start on {self.host}:{self._port}.")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        if self._writer is not None:
            self._writer.stop()
            self._writer = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def airflow_connection(server: SandboxServer) -> dict[str, Any]:
    """Return the Airflow connection (as a dict) that points the provider at ``server``."""
    cfg = server.config
    extra: dict[str, Any] = {
        "refresh_token": cfg.refresh_token,
        "api_base_url": server.api_base_url,
        "auth_base_url": server.auth_base_url,
    }
    if not cfg.rate_limit_per_second:
        # a sandbox without the 4-a-second limit: the client need not pace itself either (its standard option)
        extra["requests_per_second"] = 0
    return {"conn_type": "constant_contact", "login": cfg.client_id, "password": cfg.client_secret, "extra": extra}


def airflow_connection_json(server: SandboxServer) -> str:
    """Return the ``AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT`` JSON value for ``server``."""
    return json.dumps(airflow_connection(server))
