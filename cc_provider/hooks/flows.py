"""
The vocabulary of flows, and the one retry step every flow shares.

A *flow* is a generator that yields actions (:class:`HttpRequest`, :class:`Sleep`, :class:`Blocking`),
receives their outcomes (:class:`HttpResponse` or :class:`TransportFailure` for a request, ``None`` for a
sleep, the call's return value for a blocking call) and returns its result. The drivers in
:mod:`cc_provider.hooks.exchange` are the only code that performs actions.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any, TypeVar

from cc_provider.exceptions import ConstantContactOutcomeUnknownError, ConstantContactTransportError
from cc_provider.hooks.retry import RetryPolicy, is_retryable
from cc_provider.hooks.wire import Blocking, HttpRequest, HttpResponse, Sleep, TransportFailure, api_error

T = TypeVar("T")
Action = HttpRequest | Sleep | Blocking
Outcome = Any  # HttpResponse | TransportFailure for a request, None for a sleep, the result of a blocking call
Flow = Generator[Action, Outcome, T]


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
