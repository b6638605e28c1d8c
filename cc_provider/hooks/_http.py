"""
The wire, without a transport: HTTP messages (the API's and the token endpoint's), the flows that yield them,
and the two drivers.

A *flow* is a generator that yields actions (:class:`HttpRequest`, :class:`Sleep`, :class:`Blocking`), receives
their outcomes (:class:`HttpResponse` or :class:`TransportFailure` for a request, ``None`` for a sleep, the call's
return value for a blocking call) and returns its result. :func:`run_sync` (``requests``, for tasks) and
:func:`run_async` (``httpx``, for triggers) are the only code that performs actions, so tasks and triggers share
every decision; only the line that sends bytes differs.
"""

from __future__ import annotations

import asyncio
import base64
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

from cc_provider.exceptions import ConstantContactApiError, ConstantContactAuthError, ConstantContactQuotaExceededError

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


#: The token endpoint's messages follow. Assumed lifetime when an answer states none (no JWT exp, no expires_in).
DEFAULT_LIFETIME_SECONDS = 3600.0


def reauthorize_hint(conn_id: str = "") -> str:
    """What a person must do when no refresh token works any more."""
    conn = f" --conn-id {conn_id}" if conn_id else ""
    return (
        "Authorize the app again (a person must consent in a browser, with the offline_access scope): "
        f"run `python -m cc_provider.auth login{conn}` (or `device`), which saves the new refresh token "
        "to the token store, or put it in the connection's 'refresh_token' extra."
    )


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the wall-clock epoch at which it expires."""

    value: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)

    def expires_within(self, seconds: float, now: float) -> bool:
        """Tell whether the token expires within ``seconds`` from ``now``."""
        return now + seconds >= self.expires_at


def jwt_claims(token: str) -> dict[str, Any] | None:
    """Decode a JWT's claims without verifying them; ``None`` if the token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """Read the ``exp`` claim of a JWT; ``None`` if the token is not a JWT or states no numeric expiry."""
    exp = (jwt_claims(token) or {}).get("exp")
    return float(exp) if isinstance(exp, (int, float)) else None


def refresh_request(token_url: str, client_id: str, client_secret: str, refresh_token: str) -> HttpRequest:
    """Build the refresh-token grant: form body, client authenticated with HTTP Basic."""
    return HttpRequest(
        method="POST",
        url=token_url,
        form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Accept": "application/json"},
        basic_auth=(client_id, client_secret),
    )


def parse_token_response(response: HttpResponse, now: float) -> AccessToken:
    """
    Turn a successful token response, received at ``now``, into an :class:`AccessToken`.

    The expiry comes from the JWT's ``exp`` claim when present, else from ``expires_in`` (seconds).
    """
    try:
        body = response.json()
        value = body["access_token"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, str) or not value:
        raise ConstantContactAuthError(
            "The token endpoint answered 200 without an access_token; check the connection's auth base URL."
        )
    expires_at = jwt_expiry(value)
    if expires_at is None:
        expires_at = now + float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    return AccessToken(value=value, expires_at=expires_at, refresh_token=body.get("refresh_token"))


def token_error(response: HttpResponse, conn_id: str = "") -> ConstantContactAuthError:
    """Explain a failed token request; never includes the tokens or the secret."""
    key, message = parse_error_body(response)
    if key == "invalid_grant":
        return ConstantContactAuthError(
            f"Constant Contact refused the refresh token ({key}: {message}). {reauthorize_hint(conn_id)}"
        )
    if key == "invalid_client" or response.status_code == 401:
        return ConstantContactAuthError(
            f"Constant Contact refused the client credentials ({key or response.status_code}: {message}). "
            "Check the connection's login (client ID / API key) and password (client secret)."
        )
    return ConstantContactAuthError(
        f"The token endpoint answered {response.status_code} ({key or 'no error key'}: {message})."
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
    #: connection extra ``rate_limiter``: ``process`` or ``sql:<database conn id>`` (see ``hooks._budget``)
    rate_limiter: str = "process"
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
