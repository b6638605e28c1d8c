"""Error bodies as the real API sends them, and the exception the routes raise to send one."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

VALIDATION = "contacts.api.validation.error"
NOT_FOUND = "contacts.api.not_found"
CONFLICT = "contacts.api.conflict"
UNSUPPORTED_MEDIA_TYPE = "contacts.api.unsupported_media_type"
SERVER_ERROR = "server_error"

#: The gateway's 401 challenge header.
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer realm=api.cc.email"}

_ARRAY_DEFAULTS: dict[int, tuple[str, str]] = {
    400: (VALIDATION, "Bad request. The request body or a query parameter is not valid."),
    403: (
        "forbidden",
        "Forbidden request. You lack the necessary scopes, you lack the necessary user privileges, "
        "or the application is deactivated.",
    ),
    404: (NOT_FOUND, "The requested resource was not found."),
    409: (CONFLICT, "Conflict. The resource you are creating or updating conflicts with an existing resource."),
    415: (UNSUPPORTED_MEDIA_TYPE, "Unsupported media type. This endpoint requires Content-Type: application/json."),
    500: (SERVER_ERROR, "There was a problem with our internal service."),
    503: (SERVER_ERROR, "Our internal service is temporarily unavailable."),
}


def error_array(error_key: str, error_message: str) -> list[dict[str, str]]:
    """Return the standard error body: a JSON array of ``{error_key, error_message}``."""
    return [{"error_key": error_key, "error_message": error_message}]


def error_object(error_key: str, error_message: str) -> dict[str, str]:
    """Return the single-object error body the gateway uses for 401 and 429."""
    return {"error_key": error_key, "error_message": error_message}


def unauthorized_body() -> dict[str, str]:
    """Return the exact 401 body of the real API (59 bytes compact)."""
    return error_object("unauthorized", "Unauthorized")


def throttled_body() -> dict[str, str]:
    """Return the 429 body for the per-second rate limit."""
    return error_object("throttled", "Too Many Requests")


def quota_exceeded_body() -> dict[str, str]:
    """Return the 429 body for the daily quota."""
    return error_object("quota_exceeded", "Limit Exceeded")


def oauth_error_body(error: str, description: str) -> dict[str, str]:
    """Return the token endpoint's error body ``{error, error_description}``."""
    return {"error": error, "error_description": description}


def default_body(status: int, *, oauth: bool = False) -> Any:
    """Return a realistic body for ``status`` (OAuth style when ``oauth``); used by fault injection."""
    if oauth:
        errors = {400: "invalid_request", 401: "invalid_client", 429: "too_many_requests"}
        return oauth_error_body(errors.get(status, "server_error"), _phrase(status))
    if status == 401:
        return unauthorized_body()
    if status == 429:
        return throttled_body()
    key, message = _ARRAY_DEFAULTS.get(status, ("error", _phrase(status)))
    return error_array(key, message)


def default_headers(status: int, *, oauth: bool = False) -> dict[str, str]:
    """Return the headers that go with :func:`default_body`."""
    return dict(BEARER_CHALLENGE) if status == 401 and not oauth else {}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class SandboxError(Exception):
    """Raise from a route to answer with ``status``, ``body`` and ``headers``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    @classmethod
    def api(cls, status: int, error_key: str, error_message: str) -> SandboxError:
        """Build an error with the standard array body."""
        return cls(status, error_array(error_key, error_message))

    @classmethod
    def validation(cls, message: str) -> SandboxError:
        """Build a 400 ``contacts.api.validation.error``."""
        return cls.api(400, VALIDATION, message)

    @classmethod
    def not_found(cls, message: str) -> SandboxError:
        """Build a 404 ``contacts.api.not_found``."""
        return cls.api(404, NOT_FOUND, message)

    @classmethod
    def unauthorized(cls) -> SandboxError:
        """Build the gateway's 401 with its challenge header."""
        return cls(401, unauthorized_body(), dict(BEARER_CHALLENGE))

    @classmethod
    def forbidden(cls) -> SandboxError:
        """Build the 403 for a token that lacks the scope an endpoint needs."""
        return cls.api(403, *_ARRAY_DEFAULTS[403])

    @classmethod
    def throttled(cls) -> SandboxError:
        """Build the gateway's 429 for the per-second limit (an object body, no ``Retry-After``)."""
        return cls(429, throttled_body())

    @classmethod
    def quota_exceeded(cls) -> SandboxError:
        """Build the gateway's 429 for the daily quota."""
        return cls(429, quota_exceeded_body())

    @classmethod
    def oauth(cls, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> SandboxError:
        """Build a token endpoint error."""
        return cls(status, oauth_error_body(error, description), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Render :class:`SandboxError`, request validation and unexpected errors in the API's format."""

    async def on_sandbox_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SandboxError)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        messages = [f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()]
        return JSONResponse(error_array(VALIDATION, "; ".join(messages) or "Invalid request."), status_code=400)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        # Unknown paths and methods answer in the API's format; the admin API keeps FastAPI's {"detail": ...}.
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/__sandbox__"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(default_body(exc.status_code), status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(default_body(500), status_code=500)

    app.add_exception_handler(SandboxError, on_sandbox_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
