"""
The request life cycle (token, send, retry, refresh on 401) written once, without a transport.

A *flow* is a generator that yields :class:`HttpRequest` or :class:`Sleep` actions, receives
:class:`HttpResponse` or :class:`TransportFailure` outcomes, and returns its result. The sync driver
(``requests``) and the async driver (``httpx``) are the only code that touches a socket, so tasks and
triggers share every decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import requests

from cc_provider.exceptions import ConstantContactTransportError
from cc_provider.hooks.oauth import AccessToken, parse_token_response, refresh_request, token_error
from cc_provider.hooks.retry import RetryPolicy, is_retryable
from cc_provider.hooks.wire import HttpRequest, HttpResponse, Sleep, TransportFailure, api_error, join_url

T = TypeVar("T")
Action = HttpRequest | Sleep
Outcome = HttpResponse | TransportFailure | None
Flow = Generator[Action, Outcome, T]

DEFAULT_API_BASE_URL = "https://api.cc.email/v3"
DEFAULT_AUTH_BASE_URL = "https://authz.constantcontact.com/oauth2/default/v1"


@dataclass(frozen=True)
class ApiSettings:
    """What a connection says about reaching the API (the secrets are kept out of ``repr``)."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    auth_base_url: str = DEFAULT_AUTH_BASE_URL

    @property
    def token_url(self) -> str:
        return self.auth_base_url.rstrip("/") + "/token"


class Exchange:
    """
    Token cache, retry loop and 401 replay for one connection.

    :param settings: credentials and base URLs.
    :param retry_policy: back-off for transient failures.
    :param refresh_lead_seconds: refresh the access token this long before it expires
        (capped at half its lifetime, so short-lived tokens are not refreshed on every call).
    """

    def __init__(
        self,
        settings: ApiSettings,
        retry_policy: RetryPolicy,
        *,
        refresh_lead_seconds: float = 300.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.retry_policy = retry_policy
        self.refresh_lead_seconds = refresh_lead_seconds
        self.log = log or logging.getLogger(__name__)
        self._token: AccessToken | None = None
        self._token_lifetime = 0.0
        self.refresh_count = 0

    def request(self, method: str, endpoint: str, **kwargs: Any) -> HttpRequest:
        """Describe an API request; ``endpoint`` is a path such as ``/contact_lists`` or a ``_links`` href."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        if "json_body" in kwargs or "content" in kwargs:
            headers.setdefault("Content-Type", "application/json")
        url = join_url(self.settings.api_base_url, endpoint)
        return HttpRequest(method=method, url=url, headers=headers, **kwargs)

    def call(self, request: HttpRequest) -> Flow[HttpResponse]:
        """Send an API request with a valid token; retry transient failures; refresh once on 401."""
        replayed_401 = False
        retries = 0
        while True:
            token = yield from self.access_token()
            outcome = yield request.with_header("Authorization", f"Bearer {token.value}")
            if isinstance(outcome, HttpResponse) and outcome.ok:
                return outcome
            if isinstance(outcome, HttpResponse) and outcome.status_code == 401 and not replayed_401:
                self.log.info("%s %s answered 401; refreshing the access token once.", request.method, request.path)
                replayed_401 = True
                self._token = None
                continue
            retries = yield from self._retry_or_raise(request, outcome, retries)

    def access_token(self) -> Flow[AccessToken]:
        """Return the cached access token, refreshing it ahead of expiry."""
        lead = min(self.refresh_lead_seconds, self._token_lifetime / 2)
        if self._token is not None and not self._token.expires_within(lead):
            return self._token
        s = self.settings
        request = refresh_request(s.token_url, s.client_id, s.client_secret, s.refresh_token)
        retries = 0
        while True:
            outcome = yield request
            if isinstance(outcome, HttpResponse) and outcome.ok:
                break
            if isinstance(outcome, HttpResponse) and not is_retryable(outcome):
                raise token_error(outcome)
            retries = yield from self._retry_or_raise(request, outcome, retries)
        assert isinstance(outcome, HttpResponse)
        token = parse_token_response(outcome)
        _mask(token.value)
        self.refresh_count += 1
        self._token_lifetime = max(0.0, token.expires_at - time.time())
        self._token = token
        self.log.info("Obtained a Constant Contact access token valid for %d s.", self._token_lifetime)
        return token

    def _retry_or_raise(self, request: HttpRequest, outcome: Outcome, retries: int) -> Flow[int]:
        assert outcome is not None
        if not is_retryable(outcome):
            assert isinstance(outcome, HttpResponse)
            raise api_error(request, outcome)
        if retries >= self.retry_policy.max_retries:
            if isinstance(outcome, TransportFailure):
                raise ConstantContactTransportError(
                    f"{request.method} {request.path} failed after {retries + 1} attempts: {outcome.reason}"
                )
            raise api_error(request, outcome, hint=f"Gave up after {retries + 1} attempts.")
        retries += 1
        delay = self.retry_policy.delay(retries, outcome)
        what = outcome.reason if isinstance(outcome, TransportFailure) else f"status {outcome.status_code}"
        self.log.warning(
            "%s %s failed (%s); retry %d of %d in %.1f s.",
            request.method,
            request.path,
            what,
            retries,
            self.retry_policy.max_retries,
            delay,
        )
        yield Sleep(delay)
        return retries


def _mask(secret: str) -> None:
    """Register a secret with Airflow's log masker."""
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def run_sync(flow: Flow[T], session: requests.Session, timeout: float) -> T:
    """Drive a flow with ``requests``."""
    try:
        action = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(action, Sleep):
                time.sleep(action.seconds)
            else:
                outcome = _send_sync(session, action, timeout)
            action = flow.send(outcome)
    except StopIteration as done:
        return done.value


async def run_async(flow: Flow[T], client: httpx.AsyncClient, timeout: float) -> T:
    """Drive a flow with ``httpx`` (used inside triggers)."""
    try:
        action = next(flow)
        while True:
            outcome: Outcome = None
            if isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            else:
                outcome = await _send_async(client, action, timeout)
            action = flow.send(outcome)
    except StopIteration as done:
        return done.value


def _send_sync(session: requests.Session, req: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
    try:
        resp = session.request(
            req.method,
            req.url,
            params=req.params,
            json=req.json_body,
            data=req.content if req.content is not None else req.form,
            headers=req.headers,
            auth=req.basic_auth,
            timeout=timeout,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return TransportFailure(type(exc).__name__)
    return HttpResponse(resp.status_code, dict(resp.headers), resp.content)


async def _send_async(client: httpx.AsyncClient, req: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
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
        return TransportFailure(type(exc).__name__)
    return HttpResponse(resp.status_code, dict(resp.headers), resp.content)
