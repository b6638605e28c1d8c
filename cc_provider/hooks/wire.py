"""
Transport-free message types and parsing shared by the sync and async HTTP paths.

The hook describes every exchange with :class:`HttpRequest` / :class:`HttpResponse`; only the
drivers (``requests`` for tasks, ``httpx`` for triggers) turn them into bytes on a socket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from cc_provider.exceptions import ConstantContactApiError, ConstantContactQuotaExceededError

QUOTA_HINT = "Not retried: daily quota exhausted; it resets at 00:00 UTC."


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, described without sending it."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    json_body: Any = None
    content: bytes | None = None
    form: dict[str, str] | None = None
    #: A file to upload as multipart/form-data: ``(field name, file name sent, local path)``.
    upload: tuple[str, str, str] | None = None
    #: False for requests that must not be sent twice (bulk imports): a failure after which the API
    #: may have accepted the request is raised instead of retried.
    replay_safe: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """The URL path, safe for logs and error messages (no query string)."""
        return urlsplit(self.url).path

    def with_header(self, name: str, value: str) -> HttpRequest:
        """Return a copy with one more header."""
        return replace(self, headers={**self.headers, name: value})

    def __repr__(self) -> str:  # headers may carry a bearer token: never print them
        return f"HttpRequest({self.method} {self.path})"


@dataclass(frozen=True)
class HttpResponse:
    """The part of an HTTP response the provider looks at."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        """Decode the body as JSON."""
        return json.loads(self.content)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class TransportFailure:
    """The request got no HTTP response: connection refused or reset, or a timeout."""

    reason: str
    #: False only when the request surely never left (connection refused, connect timeout).
    maybe_delivered: bool = True


@dataclass(frozen=True)
class Sleep:
    """Ask the driver to wait before the next request."""

    seconds: float


@dataclass(frozen=True)
class Blocking:
    """
    Ask the driver to run a blocking call (token-store I/O) and send back its result.

    The sync driver calls it in place; the async driver runs it in a worker thread
    (``asyncio.to_thread``) so the event loop never blocks. An exception it raises is thrown into the flow.
    """

    func: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def __repr__(self) -> str:  # the arguments may be token records: never print them
        return f"Blocking({getattr(self.func, '__qualname__', self.func)!s})"


def join_url(base_url: str, endpoint: str) -> str:
    """
    Resolve an endpoint or a ``_links`` href against the API base URL.

    ``/contact_lists`` becomes ``<base>/contact_lists``; an href that already carries the base path
    (``/v3/contacts?cursor=...``, as the API returns in ``_links.next.href``) is joined to the base's
    origin. Absolute URLs are accepted only on the base's own origin, so the bearer token is never
    sent to another host.
    """
    base = urlsplit(base_url.rstrip("/"))
    origin = f"{base.scheme}://{base.netloc}"
    if endpoint.startswith(("http://", "https://")):
        target = urlsplit(endpoint)
        if f"{target.scheme}://{target.netloc}" != origin:
            raise ValueError(f"Refusing to follow a link to another host: {target.scheme}://{target.netloc}")
        return endpoint
    if not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    base_path = base.path.rstrip("/")
    if base_path and (endpoint == base_path or endpoint.startswith(base_path + "/")):
        return origin + endpoint
    return origin + base_path + endpoint


def error_fields(body: Any) -> tuple[str | None, str]:
    """
    Extract ``(error_key, message)`` from an error body.

    The API sends a list of ``{error_key, error_message}`` objects, a single such object (401, 429),
    or the OAuth server's ``{error, error_description}``.
    """
    items = body if isinstance(body, list) else [body]
    keys: list[str] = []
    messages: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        key = item.get("error_key") or item.get("error")
        message = item.get("error_message") or item.get("error_description") or item.get("message")
        if key:
            keys.append(str(key))
        if message:
            messages.append(str(message))
    return (keys[0] if keys else None), "; ".join(messages)


def parse_error_body(response: HttpResponse) -> tuple[str | None, str]:
    """Return ``(error_key, message)`` for an error response, tolerating non-JSON bodies."""
    try:
        key, message = error_fields(response.json())
    except ValueError:
        key, message = None, ""
    if not message:
        text = response.content[:200].decode("utf-8", errors="replace").strip()
        message = text or "no error details in the response body"
    return key, message


def api_error(request: HttpRequest, response: HttpResponse, hint: str = "") -> ConstantContactApiError:
    """Build the typed exception for an error response (quota exhaustion gets its own type)."""
    key, message = parse_error_body(response)
    if response.status_code == 429 and key == "quota_exceeded":
        return ConstantContactQuotaExceededError(
            429, key, message, method=request.method, path=request.path, hint=QUOTA_HINT
        )
    return ConstantContactApiError(
        response.status_code, key, message, method=request.method, path=request.path, hint=hint
    )
