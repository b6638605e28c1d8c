"""Unit tests for cc_provider.hooks._retry and is_transient_error: what is retried and how long to wait."""

from __future__ import annotations

import json
import random

import pytest

from cc_provider.exceptions import (
    ActivityFailedError,
    ActivityNotFoundError,
    ConstantContactApiError,
    ConstantContactAuthError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
    is_transient_error,
)
from cc_provider.hooks import _retry as retry
from cc_provider.hooks._http import HttpRequest, HttpResponse, TransportFailure, api_error
from cc_provider.hooks._retry import RetryPolicy, is_retryable, retry_after_seconds


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
    content = b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, content)


class TestIsRetryable:
    @pytest.mark.parametrize("reason", ["ConnectionError", "ReadTimeout", ""])
    def test_transport_failures(self, reason):
        assert is_retryable(TransportFailure(reason)) is True

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_server_errors(self, status):
        assert is_retryable(response(status)) is True
        assert is_retryable(response(status, [{"error_key": "x", "error_message": "y"}])) is True

    @pytest.mark.parametrize(
        "body",
        [
            {"error_key": "throttled", "error_message": "Too many requests"},
            [{"error_key": "throttled", "error_message": "Too many requests"}],
            None,  # no body at all: a throttle, not a quota
        ],
    )
    def test_throttled_429(self, body):
        assert is_retryable(response(429, body)) is True

    def test_throttled_429_with_non_json_body(self):
        assert is_retryable(HttpResponse(429, {}, b"Too Many Requests")) is True

    @pytest.mark.parametrize(
        "body",
        [
            {"error_key": "quota_exceeded", "error_message": "Daily quota reached"},
            [{"error_key": "quota_exceeded", "error_message": "Daily quota reached"}],
        ],
    )
    def test_quota_exceeded_429_is_never_retried(self, body):
        assert is_retryable(response(429, body)) is False

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 415, 422, 501, 505])
    def test_other_statuses(self, status):
        assert is_retryable(response(status, [{"error_key": "x", "error_message": "y"}])) is False

    @pytest.mark.parametrize("status", [200, 201, 204])
    def test_success_is_not_retryable(self, status):
        assert is_retryable(response(status)) is False


class TestRetryAfterSeconds:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"Retry-After": "7"}, 7.0),
            ({"retry-after": "2.5"}, 2.5),
            ({"RETRY-AFTER": "0"}, 0.0),
            ({"Retry-After": "-3"}, 0.0),
            ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
            ({"Retry-After": ""}, None),
            ({}, None),
        ],
    )
    def test_values(self, headers, expected):
        assert retry_after_seconds(response(429, headers=headers)) == expected

    def test_transport_failure_has_no_hint(self):
        assert retry_after_seconds(TransportFailure("ConnectionError")) is None


class TestRetryPolicyDelay:
    def test_defaults(self):
        policy = RetryPolicy()
        assert (policy.max_retries, policy.backoff_base, policy.backoff_max) == (5, 1.0, 60.0)

    def test_jitter_is_drawn_between_half_the_ceiling_and_the_ceiling(self, monkeypatch):
        calls = []

        def fake_uniform(low, high):
            calls.append((low, high))
            return high

        monkeypatch.setattr(retry.random, "uniform", fake_uniform)
        policy = RetryPolicy(backoff_base=1.0, backoff_max=60.0)
        delays = [policy.delay(n) for n in range(1, 9)]
        # ceilings 1, 2, 4, 8, 16, 32, then capped at 60
        assert calls == [
            (0.5, 1.0),
            (1.0, 2.0),
            (2.0, 4.0),
            (4.0, 8.0),
            (8.0, 16.0),
            (16.0, 32.0),
            (30.0, 60.0),
            (30.0, 60.0),
        ]
        assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]

    @pytest.mark.parametrize("retry_number", [1, 2, 3, 4, 5, 6, 7, 10, 50])
    def test_real_jitter_stays_within_bounds(self, retry_number):
        policy = RetryPolicy(backoff_base=0.5, backoff_max=20.0)
        ceiling = min(20.0, 0.5 * 2 ** (retry_number - 1))
        samples = [policy.delay(retry_number) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1, "delays should be jittered, not constant"

    def test_delays_grow_exponentially(self):
        random.seed(1234)
        policy = RetryPolicy(backoff_base=0.01, backoff_max=1000.0)
        for n in range(1, 12):
            # the smallest possible next delay is at least the largest possible current one
            assert policy.delay(n + 1) >= 0.01 * 2 ** (n - 1)
            assert policy.delay(n) <= 0.01 * 2 ** (n - 1)

    def test_small_base(self):
        policy = RetryPolicy(max_retries=2, backoff_base=0.01)
        assert 0.005 <= policy.delay(1) <= 0.01
        assert 0.01 <= policy.delay(2) <= 0.02

    def test_retry_after_is_honoured(self, monkeypatch):
        monkeypatch.setattr(retry.random, "uniform", lambda low, high: pytest.fail("jitter used despite Retry-After"))
        policy = RetryPolicy(backoff_base=1.0, backoff_max=60.0)
        assert policy.delay(1, response(429, headers={"Retry-After": "12"})) == 12.0
        assert policy.delay(5, response(503, headers={"retry-after": "0.25"})) == 0.25
        assert policy.delay(3, response(503, headers={"Retry-After": "0"})) == 0.0

    def test_retry_after_is_capped_at_backoff_max(self):
        policy = RetryPolicy(backoff_base=1.0, backoff_max=30.0)
        assert policy.delay(1, response(429, headers={"Retry-After": "86400"})) == 30.0

    @pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT", ""])
    def test_bad_retry_after_is_ignored(self, monkeypatch, value):
        monkeypatch.setattr(retry.random, "uniform", lambda low, high: (low, high))
        policy = RetryPolicy(backoff_base=2.0, backoff_max=60.0)
        assert policy.delay(3, response(503, headers={"Retry-After": value})) == (4.0, 8.0)

    def test_transport_failure_uses_backoff(self, monkeypatch):
        monkeypatch.setattr(retry.random, "uniform", lambda low, high: (low, high))
        policy = RetryPolicy(backoff_base=2.0, backoff_max=60.0)
        assert policy.delay(2, TransportFailure("ReadTimeout")) == (2.0, 4.0)


def api_failure(status: int, body: object = None) -> ConstantContactApiError:
    """The error the hook raises for an API answer (a quota 429 gets its own type), built as the flows do."""
    request = HttpRequest("GET", "https://api.cc.email/v3/activities/a1")
    return api_error(request, response(status, body))


class TestIsTransientError:
    def test_transport_error(self):
        assert is_transient_error(ConstantContactTransportError("GET /v3/activities failed after 6 attempts")) is True

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_server_errors(self, status):
        assert is_transient_error(api_failure(status, [{"error_key": "server.error", "error_message": "down"}]))
        assert is_transient_error(ConstantContactApiError(status, None, "down")) is True

    @pytest.mark.parametrize(
        "body", [{"error_key": "throttled", "error_message": "Too many requests"}, None], ids=["throttled", "no-body"]
    )
    def test_throttled_429(self, body):
        error = api_failure(429, body)
        assert type(error) is ConstantContactApiError
        assert is_transient_error(error) is True

    def test_quota_exceeded_429(self):
        error = api_failure(429, {"error_key": "quota_exceeded", "error_message": "Daily quota reached"})
        assert isinstance(error, ConstantContactQuotaExceededError)
        assert is_transient_error(error) is False
        assert is_transient_error(ConstantContactQuotaExceededError(429, "quota_exceeded", "quota")) is False

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
    def test_other_statuses(self, status):
        assert is_transient_error(api_failure(status, [{"error_key": "x", "error_message": "y"}])) is False

    @pytest.mark.parametrize(
        "error",
        [
            ValueError("bad input"),
            KeyError("activity_id"),
            RuntimeError("boom"),
            ActivityNotFoundError("Activity a1 was not found. Constant Contact keeps ... 10 days"),
            ActivityFailedError("Activity a1 ended failed."),
            ConstantContactAuthError("invalid_grant"),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_other_errors(self, error):
        assert is_transient_error(error) is False
