"""
Local sandbox (emulator) of the Constant Contact V3 API: a FastAPI app, in memory or kept in SQLite.

It serves the OAuth2 server (``/oauth2/default/v1``: authorize, token, device flow), and under ``/v3``
contact lists, contacts, custom fields, bulk activities (imports, memberships, deletes, exports) and
activity status, with the real API's rate limits; plus a control API under ``/__sandbox__`` (stats,
reset, request and activity faults, tokens, clock, clients, run-time settings). One module per
resource family. Run it with ``python -m cc_provider.sandbox`` or in-process with
:class:`SandboxServer`; pytest fixtures live in :mod:`cc_provider.sandbox.testing`. It imports nothing
from the provider's client code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cc_provider.sandbox.app import create_app
    from cc_provider.sandbox.config import SandboxConfig
    from cc_provider.sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer", "create_app"]

_EXPORTS = {
    "SandboxConfig": "cc_provider.sandbox.config",
    "create_app": "cc_provider.sandbox.app",
    "SandboxServer": "cc_provider.sandbox.server",
}


def __getattr__(name: str) -> Any:
    # Lazy, so ``cc_provider.sandbox.app_db`` and the config stay importable without FastAPI/uvicorn cost.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
