"""A one-shot HTTP listener on the loopback interface that catches the OAuth redirect."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

LOOPBACK_HOSTS = {"localhost": "127.0.0.1", "127.0.0.1": "127.0.0.1", "::1": "::1"}

PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Constant Contact</title></head>"
    "<body><p>{message}</p></body></html>"
)


class RedirectListener:
    """
    Serve the path of ``redirect_uri`` on its loopback host and port until one redirect arrives.

    The redirect URI must be registered for the app in the developer portal, exactly as given here
    (for example ``http://localhost:8080/callback``). Only loopback hosts are accepted.
    """

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        host = (parts.hostname or "").lower()
        if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"The redirect URI must be http://localhost:<port>/<path> (a loopback address), not {redirect_uri!r}."
            )
        self.redirect_uri = redirect_uri
        self.path = parts.path or "/"
        self.address = (LOOPBACK_HOSTS[host], parts.port or 80)
        self._params: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RedirectListener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                if parts.path != listener.path or listener._arrived.is_set():
                    self.send_error(404)
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                ok = "code" in params
                message = (
                    "Constant Contact authorization received. You can close this window."
                    if ok
                    else "Constant Contact authorization failed; see the terminal."
                )
                body = PAGE.format(message=message).encode("utf-8")
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                listener._params = params
                listener._arrived.set()

            def log_message(self, format: str, *args: object) -> None:  # the query holds the code: never log it
                pass

        server_class = HTTPServer
        if ":" in self.address[0]:

            class V6Server(HTTPServer):
                import socket

                address_family = socket.AF_INET6

            server_class = V6Server
        try:
            self._server = server_class(self.address, Handler)
        except OSError as err:
            raise OSError(f"Cannot listen on {self.address[0]}:{self.address[1]} for the redirect: {err}") from err
        self._thread = threading.Thread(target=self._server.serve_forever, name="cc-auth-redirect", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float) -> dict[str, str] | None:
        """Return the redirect's query parameters, or ``None`` if none arrived within ``timeout`` seconds."""
        return self._params if self._arrived.wait(timeout) else None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
