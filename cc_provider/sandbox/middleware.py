"""One ASGI middleware that counts requests per route template and serves injected faults."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from cc_provider.sandbox.models import Fault
from cc_provider.sandbox.store import SandboxState

ADMIN_PREFIX = "/__sandbox__"


class SandboxMiddleware:
    """Count ``"<METHOD> <route template>"`` and answer the next matching request with a fault.

    The admin API under ``/__sandbox__`` is neither counted nor faulted.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        self.state.count_request(f"{method} {self._template(scope)}")
        fault = self.state.take_fault(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop_connection and await _drop_connection(receive):
            return
        await _fault_response(fault)(scope, receive, send)

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
