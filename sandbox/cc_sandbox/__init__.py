"""
Local sandbox (emulator) of the Constant Contact V3 API: a FastAPI app, in memory or kept in SQLite.

It serves the OAuth2 server (``/oauth2/default/v1``: authorize, token, device flow), and under ``/v3``
contact lists, contacts, custom fields, bulk activities (imports, memberships, deletes, exports) and
activity status, with the real API's rate limits; plus a control API under ``/__sandbox__`` (stats,
reset, request and activity faults, tokens, clock, clients, run-time settings). One module per
resource family. Run it with ``python -m cc_sandbox`` or in-process with
:class:`SandboxServer`; pytest fixtures live in :mod:`cc_sandbox.testing`, a pytest plugin that
installing the distribution enables. It is a distribution of its own (``cc-sandbox``) beside the
provider and imports nothing of it, so the two can never agree by sharing a mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cc_sandbox.app import create_app
    from cc_sandbox.config import SandboxConfig
    from cc_sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer", "__version__", "create_app"]

_EXPORTS = {
    "SandboxConfig": "cc_sandbox.config",
    "create_app": "cc_sandbox.app",
    "SandboxServer": "cc_sandbox.server",
}


def __getattr__(name: str) -> Any:
    # Lazy, so ``cc_sandbox.app_db`` and the config stay importable without FastAPI/uvicorn cost.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
