"""
The one retry policy of the provider, and what the hooks of one process share: rate limiters, token slots.

Retry connection errors, timeouts, 5xx and 429 ``throttled`` with exponential back-off and jitter,
honouring ``Retry-After``; never other 4xx nor 429 ``quota_exceeded``. Constant Contact allows 4 API
requests a second per API key (client id) and 1 a second on the token endpoint: every hook of a process
(task workers run one task per process; the triggerer runs many triggers in one) shares one
:class:`RateLimiter` per client id, so the process as a whole stays inside the limits. Across processes,
use an Airflow pool (see the README) or the shared budget of :mod:`cc_provider.hooks._budget`. Flows ask a
:class:`Pacer` how long to wait and yield a :class:`~cc_provider.hooks._http.Sleep`, so the sync and the
async driver both honour it. The hooks of a process also share one :class:`TokenSlot` per connection: the
access token the process holds.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from cc_provider.exceptions import RETRYABLE_STATUSES, ConstantContactOutcomeUnknownError, ConstantContactTransportError
from cc_provider.hooks._http import (
    AccessToken,
    Blocking,
    Flow,
    HttpRequest,
    HttpResponse,
    Sleep,
    TransportFailure,
    api_error,
    parse_error_body,
)


def is_retryable(outcome: HttpResponse | TransportFailure) -> bool:
    """
    Tell whether an outcome is worth another try.

    Retry connection errors, timeouts, 5xx and 429 ``throttled``; never 429 ``quota_exceeded``
    (it lasts until 00:00 UTC) nor any other 4xx.
    """
    if isinstance(outcome, TransportFailure):
        return True
    if outcome.status_code in RETRYABLE_STATUSES:
        return True
    if outcome.status_code == 429:
        key, _ = parse_error_body(outcome)
        return key != "quota_exceeded"
    return False


def retry_after_seconds(outcome: HttpResponse | TransportFailure) -> float | None:
    """Return the ``Retry-After`` delay in seconds if the response carries a numeric one."""
    if not isinstance(outcome, HttpResponse):
        return None
    value = {k.lower(): v for k, v in outcome.headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """
    Exponential back-off with jitter.

    :param max_retries: retries after the first attempt.
    :param backoff_base: delay before the first retry, in seconds; it doubles each time.
    :param backoff_max: ceiling for one delay, in seconds.
    """

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0

    def delay(self, retry_number: int, outcome: HttpResponse | TransportFailure | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based); honours ``Retry-After``."""
        hinted = retry_after_seconds(outcome) if outcome is not None else None
        if hinted is not None:
            return min(hinted, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (retry_number - 1))
        return random.uniform(ceiling / 2, ceiling)


def retry_or_raise(
    policy: RetryPolicy,
    log: logging.Logger,
    request: HttpRequest,
    outcome: HttpResponse | TransportFailure,
    retries: int,
) -> Flow[int]:
    """Sleep before the next attempt of a transient failure and return the retry count; raise otherwise."""
    if not is_retryable(outcome):
        assert isinstance(outcome, HttpResponse)
        raise api_error(request, outcome)
    if isinstance(outcome, TransportFailure) and outcome.maybe_delivered and not request.replay_safe:
        raise ConstantContactOutcomeUnknownError(
            f"{request.method} {request.path} got no answer ({outcome.reason}), and Constant Contact may have "
            "accepted it; it is not replayed here. The import operator posts it again (an import upserts by "
            "email, so a duplicate changes nothing) and follows only an activity whose id came back in an answer."
        )
    if retries >= policy.max_retries:
        if isinstance(outcome, TransportFailure):
            raise ConstantContactTransportError(
                f"{request.method} {request.path} failed after {retries + 1} attempts: {outcome.reason}"
            )
        raise api_error(request, outcome, hint=f"Gave up after {retries + 1} attempts.")
    retries += 1
    delay = policy.delay(retries, outcome)
    what = outcome.reason if isinstance(outcome, TransportFailure) else f"status {outcome.status_code}"
    log.warning(
        "%s %s failed (%s); retry %d of %d in %.1f s.",
        request.method,
        request.path,
        what,
        retries,
        policy.max_retries,
        delay,
    )
    yield Sleep(delay)
    return retries


def send_retried(
    request: HttpRequest, policy: RetryPolicy, log: logging.Logger, limiter: Pacer | None = None
) -> Flow[HttpResponse]:
    """Send ``request`` (paced by ``limiter``), retrying transient failures; return the final answer, ok or not."""
    retries = 0
    while True:
        yield from pace(limiter)
        outcome = yield request
        if isinstance(outcome, HttpResponse) and (outcome.ok or not is_retryable(outcome)):
            return outcome
        retries = yield from retry_or_raise(policy, log, request, outcome, retries)


#: Seconds between looks at a busy token slot.
SLOT_POLL_SECONDS = 0.05
#: Constant Contact's limits, per API key.
API_REQUESTS_PER_SECOND = 4
TOKEN_REQUESTS_PER_SECOND = 1


class Pacer(Protocol):
    """What paces requests: :meth:`reserve` books the next send slot and returns the seconds to wait for it."""

    #: ``True`` when :meth:`reserve` does I/O (a budget kept in a database): :func:`pace` then yields it as
    #: ``Blocking``, so the async driver runs it in a worker thread.
    does_io: bool

    def reserve(self) -> float: ...


class RateLimiter:
    """
    At most ``limit`` requests in any window of ``period`` seconds (a sliding-window log); thread-safe.

    :meth:`reserve` books the earliest free slot and returns how long to wait for it, so callers never
    block inside the limiter: a flow turns the wait into a ``Sleep`` action.

    :param limit: requests allowed per window.
    :param period: window length in seconds.
    :param margin: extra seconds added to the window, against clock jitter between client and server.
    :param clock: monotonic clock (process-local intervals; never compared across processes).
    """

    #: Booking is in memory (see :class:`Pacer`).
    does_io = False

    def __init__(
        self, limit: int, period: float = 1.0, *, margin: float = 0.02, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1.")
        self.limit = limit
        self.period = period
        self.window = period + margin
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()

    def reserve(self) -> float:
        """Book the next slot; return the seconds to wait before sending (0 when a slot is free now)."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            at = now if len(self._sent) < self.limit else max(now, self._sent[-self.limit] + self.window)
            self._sent.append(at)
            while len(self._sent) > self.limit:
                self._sent.popleft()
            return at - now


def pace(limiter: Pacer | None) -> Generator[Sleep | Blocking, Any, None]:
    """Flow step: wait for ``limiter``'s next slot (booked in the driver when that is I/O; no sleep when no wait)."""
    if limiter is None:
        return
    wait = (yield Blocking(limiter.reserve)) if limiter.does_io else limiter.reserve()
    if wait > 0:
        yield Sleep(wait)


class TokenSlot:
    """
    The access token one process holds for one connection, shared by every hook of the process.

    ``try_acquire`` / ``release`` form a non-blocking mutex: a flow that finds the slot busy yields a
    short ``Sleep`` and looks again, so coroutines in the triggerer never block the event loop on it.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.token: AccessToken | None = None
        self.lifetime = 0.0
        self.refresh_token: str | None = None

    def try_acquire(self) -> bool:
        return self._mutex.acquire(blocking=False)

    def release(self) -> None:
        self._mutex.release()

    def usable(self, lead: float, now: float, rejected: str | None = None) -> AccessToken | None:
        """Return the held token unless it expires within ``lead`` (capped at half its life) or was rejected."""
        token = self.token
        if token is None or token.value == rejected:
            return None
        return None if token.expires_within(min(lead, self.lifetime / 2), now) else token

    def hold(self, token: AccessToken, obtained_at: float, refresh_token: str | None) -> None:
        self.token = token
        self.lifetime = max(0.0, token.expires_at - obtained_at)
        self.refresh_token = refresh_token

    def forget(self, value: str | None = None) -> None:
        """Drop the held token (only if it is ``value``, when given)."""
        if value is None or (self.token is not None and self.token.value == value):
            self.token = None


_registry_lock = threading.Lock()
_api_limiters: dict[str, RateLimiter] = {}
_token_limiters: dict[str, RateLimiter] = {}
_slots: dict[str, TokenSlot] = {}


def api_limiter(client_id: str, requests_per_second: float = API_REQUESTS_PER_SECOND) -> RateLimiter | None:
    """Return this process's limiter for API calls made with ``client_id`` (``None`` when the rate is <= 0)."""
    if requests_per_second <= 0:
        return None
    limit, period = (round(requests_per_second), 1.0) if requests_per_second >= 1 else (1, 1 / requests_per_second)
    with _registry_lock:
        limiter = _api_limiters.get(client_id)
        if limiter is None or (limiter.limit, limiter.period) != (limit, period):
            limiter = _api_limiters[client_id] = RateLimiter(limit, period)
        return limiter


def token_limiter(client_id: str) -> RateLimiter:
    """Return this process's limiter for token-endpoint requests made with ``client_id``."""
    with _registry_lock:
        limiter = _token_limiters.get(client_id)
        if limiter is None:
            limiter = _token_limiters[client_id] = RateLimiter(TOKEN_REQUESTS_PER_SECOND)
        return limiter


def shared_slot(key: str) -> TokenSlot:
    """Return this process's token slot for ``key`` (a fingerprint of the connection's credentials)."""
    with _registry_lock:
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = TokenSlot()
        return slot


def reset_process_state() -> None:
    """Forget every limiter and held token of this process (a forked child starts clean; also for tests)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _api_limiters.clear()
    _token_limiters.clear()
    _slots.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_process_state)
