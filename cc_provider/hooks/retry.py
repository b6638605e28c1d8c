"""The one retry policy of the provider, as pure functions."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cc_provider.exceptions import (
    ConstantContactApiError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
)
from cc_provider.hooks.wire import HttpResponse, TransportFailure, parse_error_body

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


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


def is_transient_error(error: BaseException) -> bool:
    """Tell whether an error that outlived the hook's retries is worth waiting out (5xx, throttling, network)."""
    if isinstance(error, ConstantContactTransportError):
        return True
    if isinstance(error, ConstantContactQuotaExceededError):
        return False
    return isinstance(error, ConstantContactApiError) and (
        error.status_code in RETRYABLE_STATUSES or error.status_code == 429
    )
