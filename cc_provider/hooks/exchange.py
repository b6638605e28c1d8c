"""
The request life cycle (token, pacing, send, retry, refresh on 401) written once, without a transport.

A *flow* (see :mod:`cc_provider.hooks.flows`) is a generator that yields :class:`HttpRequest`,
:class:`Sleep` or :class:`Blocking` actions, receives their outcomes and returns its result. The sync
driver (``requests``) and the async driver (``httpx``) are the only code that touches a socket or runs
token-store I/O, so tasks and triggers share every decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import urllib3

from cc_provider.hooks.budget import RateLimiter, TokenSlot, pace
from cc_provider.hooks.flows import Action, Flow, Outcome, T, retry_or_raise
from cc_provider.hooks.oauth import AccessToken
from cc_provider.hooks.retry import RetryPolicy
from cc_provider.hooks.token_store import TokenStore
from cc_provider.hooks.tokens import TokenKeeper
from cc_provider.hooks.wire import Blocking, HttpRequest, HttpResponse, Sleep, TransportFailure, join_url

__all__ = ["Action", "ApiSettings", "Exchange", "Flow", "Outcome", "run_async", "run_sync"]

DEFAULT_API_BASE_URL = "https://api.cc.email/v3"
DEFAULT_AUTH_BASE_URL = "https://authz.constantcontact.com/oauth2/default/v1"


@dataclass(frozen=True)
class ApiSettings:
    """What a connection says about reaching the API (the secrets are kept out of ``repr``)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    auth_base_url: str = DEFAULT_AUTH_BASE_URL
    conn_id: str = ""
    token_type: str = "long_lived"
    token_store: str | None = None
    requests_per_second: float = 4.0
    #: seconds to wait for one HTTP response (connection extra ``timeout``)
    timeout: float = 60.0

    @property
    def token_url(self) -> str:
        return self.auth_base_url.rstrip("/") + "/token"


class Exchange:
    """
    Tokens, pacing, retry loop and 401 replay for one connection.

    :param settings: credentials, base URLs and token settings.
    :param retry_policy: back-off for transient failures.
    :param refresh_lead_seconds: refresh the access token this long before it expires
        (capped at half its lifetime, so short-lived tokens are not refreshed on every call).
    :param store: token store shared by every worker (``None``: tokens live in this process only).
    :param slot: in-process token slot (the hook passes one shared by the process; private by default).
    :param api_limiter: pacing of API requests (the hook passes the process-wide one; unpaced by default).
    :param token_limiter: pacing of token-endpoint requests (likewise).
    """

    def __init__(
        self,
        settings: ApiSettings,
        retry_policy: RetryPolicy,
        *,
        refresh_lead_seconds: float = 300.0,
        log: logging.Logger | None = None,
        store: TokenStore | None = None,
        slot: TokenSlot | None = None,
        api_limiter: RateLimiter | None = None,
        token_limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.retry_policy = retry_policy
        self.log = log or logging.getLogger(__name__)
        self.api_limiter = api_limiter
        self.tokens = TokenKeeper(
            settings,
            retry_policy,
            store=store,
            slot=slot,
            limiter=token_limiter,
            refresh_lead_seconds=refresh_lead_seconds,
            log=self.log,
        )

    @property
    def refresh_count(self) -> int:
        """How many times this exchange obtained a token from the token endpoint."""
        return self.tokens.refresh_count

    @property
    def token(self) -> AccessToken | None:
        """The access token currently held for this connection in this process."""
        return self.tokens.slot.token

    @property
    def refresh_lead_seconds(self) -> float:
        return self.tokens.refresh_lead_seconds

    @refresh_lead_seconds.setter
    def refresh_lead_seconds(self, value: float) -> None:
        self.tokens.refresh_lead_seconds = value

    def request(self, method: str, endpoint: str, **kwargs: Any) -> HttpRequest:
        """Describe an API request; ``endpoint`` is a path such as ``/contact_lists`` or a ``_links`` href."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        if "json_body" in kwargs or "content" in kwargs:
            headers.setdefault("Content-Type", "application/json")
        url = join_url(self.settings.api_base_url, endpoint)
        return HttpRequest(method=method, url=url, headers=headers, **kwargs)

    def call(self, request: HttpRequest) -> Flow[HttpResponse]:
        """Send an API request with a valid token, paced; retry transient failures; refresh once on 401."""
        rejected: str | None = None
        retries = 0
        while True:
            token = yield from self.access_token(rejected)
            yield from pace(self.api_limiter)
            outcome = yield request.with_header("Authorization", f"Bearer {token.value}")
            if isinstance(outcome, HttpResponse) and outcome.ok:
                return outcome
            if isinstance(outcome, HttpResponse) and outcome.status_code == 401 and rejected is None:
                self.log.info("%s %s answered 401; refreshing the access token once.", request.method, request.path)
                rejected = token.value
                continue
            retries = yield from retry_or_raise(self.retry_policy, self.log, request, outcome, retries)

    def access_token(self, rejected: str | None = None) -> Flow[AccessToken]:
        """Return a valid access token (shared, stored or refreshed ahead of expiry); never ``rejected``."""
        return (yield from self.tokens.access_token(rejected))

    def refresh_now(self) -> Flow[AccessToken]:
        """Use the refresh token now, whatever the access token's age (a keep-alive: unused ones die in 180 days)."""
        return (yield from self.tokens.access_token(force=True))


def run_sync(flow: Flow[T], session: requests.Session, timeout: float) -> T:
    """Drive a flow with ``requests``."""
    try:
        action = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(action, Sleep):
                time.sleep(action.seconds)
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
