"""Build the sandbox's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from cc_sandbox import (
    activities,
    admin,
    admin_knobs,
    authorize,
    bulk,
    contacts,
    custom_fields,
    exports,
    file_import,
    lists,
    oauth,
)
from cc_sandbox.config import SandboxConfig
from cc_sandbox.errors import install_error_handlers
from cc_sandbox.middleware import SandboxMiddleware
from cc_sandbox.store import SandboxState


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """Return a fresh sandbox app; its state is ``app.state.sandbox`` (a :class:`SandboxState`)."""
    state = SandboxState(config or SandboxConfig())
    app = FastAPI(
        title="Constant Contact V3 API sandbox",
        description="Local emulator of the Constant Contact V3 API for tests and demos.",
        docs_url="/__sandbox__/docs",
        redoc_url=None,
        openapi_url="/__sandbox__/openapi.json",
    )
    app.state.sandbox = state
    modules = (oauth, authorize, lists, contacts, custom_fields, activities, file_import, bulk, exports)
    for module in (*modules, admin, admin_knobs):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(SandboxMiddleware, state=state)
    return app
