"""One ASGI middleware that counts requests per route template, serves injected faults and reports responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cc_sandbox.models import Fault
from cc_sandbox.store import SandboxState

ADMIN_PREFIX = "/__sandbox__"


@dataclass
class ObservedResponse:
    """One response a sandbox sent, as handed to response observers."""

    method: str
    path: str
    route: str  # the route template, e.g. ``/v3/contact_lists/{list_id}``
    status: int
    headers: dict[str, str]
    body: bytes
    custom_fault: bool = False  # the body was written by whoever armed the fault, not by the sandbox
    query: str = field(default="")


_observers: list[Callable[[ObservedResponse], None]] = []


def add_response_observer(observer: Callable[[ObservedResponse], None]) -> None:
    """Call ``observer`` with every non-admin response any sandbox in this process sends (tests use it)."""
    _observers.append(observer)


def remove_response_observer(observer: Callable[[ObservedResponse], None]) -> None:
    _observers.remove(observer)


class SandboxMiddleware:
    """Count ``"<METHOD> <route template>"`` and answer the next matching request with a fault.

    The admin API under ``/__sandbox__`` is neither counted, faulted nor observed.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
                self.state.changed = True
            return
        method = scope["method"]
        route = self._template(scope)
        self.state.count_request(f"{method} {route}")
        fault = self.state.take_fault(method, path)
        if _observers:
            send = _observing(send, scope, route, fault)
        try:
            if fault is None:
                await self.app(scope, receive, send)
                return
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drop_connection and await _drop_connection(receive):
                return
            await _fault_response(fault)(scope, receive, send)
        finally:
            self.state.changed = True

    @staticmethod
    def _template(scope: Scope) -> str:
        """Return the path template of the route serving ``scope`` (the raw path if none matches)."""
        partial = None
        for route in scope["app"].router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", scope["path"]))
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        return str(partial or scope["path"])


def _observing(send: Send, scope: Scope, route: str, fault: Fault | None) -> Send:
    """Wrap ``send`` so the complete response goes to the observers."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                observed = ObservedResponse(
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=int(start.get("status", 0)),
                    headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])},
                    body=b"".join(chunks),
                    custom_fault=bool(fault and fault.custom_body),
                    query=scope.get("query_string", b"").decode("latin-1"),
                )
                for observer in list(_observers):
                    observer(observed)
        await send(message)

    return wrapped


def _fault_response(fault: Fault) -> Response:
    if fault.status < 200 or fault.status in (204, 304):
        return Response(status_code=fault.status, headers=fault.headers)
    return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)


async def _drop_connection(receive: Receive) -> bool:
    """Close the client's socket without an answer; ``False`` if the server is not uvicorn.

    uvicorn's ``receive`` is a bound method of its request cycle, which holds the transport.
    """
    cycle: Any = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        return False
    transport.close()
    # Let uvicorn see the connection as lost, so it neither logs nor tries to send a 500.
    for _ in range(3):
        await asyncio.sleep(0)
    return True
