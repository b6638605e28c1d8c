"""
The wire, without a transport: HTTP messages, the flows that yield them, and the two drivers.

A *flow* is a generator that yields actions (:class:`HttpRequest`, :class:`Sleep`, :class:`Blocking`),
receives their outcomes (:class:`HttpResponse` or :class:`TransportFailure` for a request, ``None`` for a
sleep, the call's return value for a blocking call) and returns its result. :func:`run_sync`
(``requests``, for tasks) and :func:`run_async` (``httpx``, for triggers) are the only code that performs
actions, so tasks and triggers share every decision; only the line that sends bytes differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import requests
import urllib3

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


T = TypeVar("T")
Action = HttpRequest | Sleep | Blocking
Outcome = Any  # HttpResponse | TransportFailure for a request, None for a sleep, the result of a blocking call
Flow = Generator[Action, Outcome, T]


def holding(release: Callable[[], None], flow: Flow[T]) -> Flow[T]:
    """Run ``flow``, then ``release`` as a blocking call (in place, without yielding, if the flow is abandoned)."""
    try:
        result = yield from flow
    except GeneratorExit:
        release()
        raise
    except BaseException:
        yield Blocking(release)
        raise
    yield Blocking(release)
    return result


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


DEFAULT_API_BASE_URL = "https://api.cc.email/v3"
DEFAULT_AUTH_BASE_URL = "https://authz.constantcontact.com/oauth2/default/v1"


def token_url(auth_base_url: str) -> str:
    """The token endpoint of the OAuth server at ``auth_base_url``."""
    return auth_base_url.rstrip("/") + "/token"


@dataclass(frozen=True)
class ApiSettings:
    """What a connection says about reaching the API (the secrets are kept out of ``repr``)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    auth_base_url: str = DEFAULT_AUTH_BASE_URL
    conn_id: str = ""
    refresh_mode: str = "long_lived"
    credential_store: str | None = None
    requests_per_second: float = 4.0
    #: seconds to wait for one HTTP response (connection extra ``timeout``)
    timeout: float = 60.0

    @property
    def token_url(self) -> str:
        return token_url(self.auth_base_url)


def run_sync(
    flow: Flow[T], session: requests.Session, timeout: float, *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Drive a flow with ``requests``; ``sleep`` performs the ``Sleep`` actions."""
    try:
        action = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(action, Sleep):
                sleep(action.seconds)
            elif isinstance(action, Blocking):
                try:
                    outcome = action.func(*action.args)
                except Exception as exc:
                    action = flow.throw(exc)
                    continue
            else:
                outcome = _send_sync(session, action, timeout)
            action = flow.send(outcome)
    except StopIteration as done:
        return done.value
    finally:
        flow.close()


async def run_async(flow: Flow[T], client: httpx.AsyncClient, timeout: float) -> T:
    """Drive a flow with ``httpx`` (used inside triggers); blocking calls run in a worker thread."""
    try:
        action = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Blocking):
                try:
                    outcome = await asyncio.to_thread(action.func, *action.args)
                except Exception as exc:
                    action = flow.throw(exc)
                    continue
            else:
                outcome = await _send_async(client, action, timeout)
            action = flow.send(outcome)
    except StopIteration as done:
        return done.value
    finally:
        flow.close()


def _send_sync(session: requests.Session, req: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
    try:
        with contextlib.ExitStack() as stack:
            files = None
            if req.upload is not None:  # multipart: requests writes the boundary and Content-Type itself
                field_name, file_name, path = req.upload
                files = {field_name: (file_name, stack.enter_context(open(path, "rb")), "text/csv")}
            resp = session.request(
                req.method,
                req.url,
                params=req.params,
                json=req.json_body,
                data=req.content if req.content is not None else req.form,
                files=files,
                headers=req.headers,
                auth=req.basic_auth,
                timeout=timeout,
            )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return TransportFailure(type(exc).__name__, maybe_delivered=not _never_sent(exc))
    return HttpResponse(resp.status_code, dict(resp.headers), resp.content)


def _never_sent(exc: Exception) -> bool:
    """Tell whether ``requests`` failed before the request could reach the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


async def _send_async(client: httpx.AsyncClient, req: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
    if req.upload is not None:
        raise ValueError("File uploads are sent from tasks (the sync driver), not from triggers.")
    try:
        resp = await client.request(
            req.method,
            req.url,
            params=req.params,
            json=req.json_body,
            content=req.content,
            data=req.form,
            headers=req.headers,
            auth=req.basic_auth,
            timeout=timeout,
        )
    except httpx.TransportError as exc:
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        return TransportFailure(type(exc).__name__, maybe_delivered=not never_sent)
    return HttpResponse(resp.status_code, dict(resp.headers), resp.content)
