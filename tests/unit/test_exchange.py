"""
Unit tests for the exchange of cc_provider.hooks._connection: the request life cycle, driven by hand.

Each test plays the server (tests/flow_driver.py): it sends scripted HttpResponse / TransportFailure
outcomes into the flow generator and looks at every action the flow yields. No sockets, no sleeping.
"""

from __future__ import annotations

import json
from collections import deque
from types import SimpleNamespace

import jwt
import pytest

from cc_provider.exceptions import (
    ConstantContactApiError,
    ConstantContactAuthError,
    ConstantContactOutcomeUnknownError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
)
from cc_provider.hooks._connection import Exchange
from cc_provider.hooks._http import ApiSettings, HttpRequest, HttpResponse, TransportFailure, run_sync
from cc_provider.hooks._retry import RetryPolicy
from tests import flow_driver
from tests.flow_driver import T0, TOKEN_URL, FakeClock, json_response
from tests.flow_driver import ScriptedServer as Server

SIGNING_KEY = "unit-test-signing-key-that-is-at-least-32-bytes-long"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK"
REFRESH_TOKEN = "refresh-token-DO-NOT-LEAK"
SETTINGS = ApiSettings(
    client_id="client-id-123",
    client_secret=CLIENT_SECRET,
    refresh_token=REFRESH_TOKEN,
    api_base_url="http://cc.test/v3",
    auth_base_url="http://auth.test/oauth2/default/v1/",
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def masked(monkeypatch) -> list[str]:
    """Record what is registered with Airflow's secrets masker (the real masker is called too)."""
    import airflow.sdk.log

    seen: list[str] = []
    real = airflow.sdk.log.mask_secret

    def spy(secret, *args, **kwargs):
        seen.append(secret)
        return real(secret, *args, **kwargs)

    monkeypatch.setattr(airflow.sdk.log, "mask_secret", spy)
    return seen


def token_ok(value: str, expires_in: float | None = 3600) -> HttpResponse:
    body: dict[str, object] = {"access_token": value, "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    return json_response(200, body)


def jwt_token(exp: float, name: str = "jwt") -> str:
    return jwt.encode({"exp": int(exp), "sub": name}, SIGNING_KEY, algorithm="HS256")


def api_error_body(status: int, key: str, message: str = "error") -> HttpResponse:
    return json_response(status, [{"error_key": key, "error_message": message}])


def make_exchange(clock: FakeClock, **kwargs) -> Exchange:
    return flow_driver.make_exchange(SETTINGS, clock=clock, **kwargs)


def get_lists(ex: Exchange) -> HttpRequest:
    return ex.request("GET", "/contact_lists", params={"limit": 50})


class TestSettingsAndRequest:
    def test_token_url_and_repr(self):
        assert SETTINGS.token_url == TOKEN_URL
        assert ApiSettings("id", "s", "r").token_url == "https://authz.constantcontact.com/oauth2/default/v1/token"
        assert CLIENT_SECRET not in repr(SETTINGS) and REFRESH_TOKEN not in repr(SETTINGS)
        assert "client-id-123" in repr(SETTINGS)

    def test_request_description(self):
        ex = make_exchange(clock)
        req = ex.request("GET", "/contacts", params={"limit": 500})
        assert req.url == "http://cc.test/v3/contacts"
        assert req.params == {"limit": 500}
        assert req.headers == {"Accept": "application/json"}
        assert "Authorization" not in req.headers

    def test_request_with_a_body_gets_a_content_type(self):
        ex = make_exchange(clock)
        req = ex.request("POST", "/activities/contacts_json_import", json_body={"a": 1})
        assert req.headers == {"Accept": "application/json", "Content-Type": "application/json"}
        raw = ex.request("POST", "/x", content=b"{}", headers={"Content-Type": "application/x-custom"})
        assert raw.headers["Content-Type"] == "application/x-custom"
        assert raw.content == b"{}"

    def test_request_follows_links_hrefs_and_refuses_other_hosts(self):
        ex = make_exchange(clock)
        assert ex.request("GET", "/v3/contacts?cursor=abc").url == "http://cc.test/v3/contacts?cursor=abc"
        with pytest.raises(ValueError):
            ex.request("GET", "https://evil.example.com/v3/contacts")


class TestTokens:
    def test_first_call_fetches_a_token_then_sends_the_request_with_it(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok-1")], api=[json_response(200, {"lists": []})])
        result = server.run(ex.call(get_lists(ex)))

        assert result.status_code == 200
        assert result.json() == {"lists": []}
        assert server.kinds() == ["token", "api"]
        token_req, api_req = server.actions
        assert token_req.method == "POST"
        assert token_req.form == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
        assert token_req.basic_auth == ("client-id-123", CLIENT_SECRET)
        assert "Authorization" not in token_req.headers
        assert api_req.method == "GET"
        assert api_req.url == "http://cc.test/v3/contact_lists"
        assert api_req.params == {"limit": 50}
        assert api_req.headers["Authorization"] == "Bearer tok-1"
        assert api_req.headers["Accept"] == "application/json"
        assert "tok-1" not in repr(api_req)
        assert ex.tokens.refresh_count == 1
        assert "tok-1" in masked

    def test_the_described_request_is_not_mutated(self, clock, masked):
        ex = make_exchange(clock)
        req = get_lists(ex)
        Server(token=[token_ok("tok-1")], api=[json_response(200, {})]).run(ex.call(req))
        assert "Authorization" not in req.headers

    def test_cached_token_is_reused(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok-1")], api=[json_response(200, {}), json_response(204)])
        server.run(ex.call(get_lists(ex)))
        clock.now += 60
        second = server.run(ex.call(ex.request("DELETE", "/contact_lists/abc")))

        assert second.status_code == 204
        assert server.kinds() == ["token", "api", "api"]
        assert len(server.token_requests) == 1
        assert [r.headers["Authorization"] for r in server.api_requests] == ["Bearer tok-1", "Bearer tok-1"]
        assert ex.tokens.refresh_count == 1

    def test_access_token_flow_returns_the_token(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok-1", expires_in=600)])
        token = server.run(ex.tokens.access_token())
        assert token.value == "tok-1"
        assert token.expires_at == T0 + 600
        assert server.run(ex.tokens.access_token()) is token  # cached: no action at all
        assert server.kinds() == ["token"]

    def test_token_is_refreshed_ahead_of_expiry(self, clock, masked):
        ex = make_exchange(clock, refresh_lead_seconds=300)
        server = Server(token=[token_ok("tok-1", 3600), token_ok("tok-2", 3600)])
        server.run(ex.tokens.access_token())

        clock.now = T0 + 3299  # 301 s left: still outside the 300 s lead
        assert server.run(ex.tokens.access_token()).value == "tok-1"
        assert len(server.token_requests) == 1

        clock.now = T0 + 3300  # 300 s left: inside the lead, refresh now
        assert server.run(ex.tokens.access_token()).value == "tok-2"
        assert len(server.token_requests) == 2
        assert ex.tokens.refresh_count == 2

    def test_refresh_lead_is_capped_at_half_the_lifetime(self, clock, masked):
        ex = make_exchange(clock, refresh_lead_seconds=300)
        # a 100 s token: a 300 s lead would refresh it on every call; half its life (50 s) is used
        server = Server(token=[token_ok("short-1", 100), token_ok("short-2", 100)])
        server.run(ex.tokens.access_token())
        assert server.run(ex.tokens.access_token()).value == "short-1"
        clock.now = T0 + 49
        assert server.run(ex.tokens.access_token()).value == "short-1"
        assert len(server.token_requests) == 1
        clock.now = T0 + 50
        assert server.run(ex.tokens.access_token()).value == "short-2"
        assert len(server.token_requests) == 2
        # the new token is measured from now: 100 s life, 50 s lead
        clock.now = T0 + 99
        assert server.run(ex.tokens.access_token()).value == "short-2"
        assert server.done()

    def test_jwt_exp_drives_the_refresh(self, clock, masked):
        ex = make_exchange(clock, refresh_lead_seconds=300)
        first, second = jwt_token(T0 + 1000, "a"), jwt_token(T0 + 5000, "b")
        # expires_in is ignored for a JWT with an exp claim
        server = Server(token=[token_ok(first, expires_in=99999), token_ok(second, expires_in=99999)])
        server.run(ex.tokens.access_token())
        clock.now = T0 + 699
        assert server.run(ex.tokens.access_token()).value == first
        clock.now = T0 + 700
        assert server.run(ex.tokens.access_token()).value == second
        assert server.done()

    def test_expired_token_is_refreshed_before_the_call(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok-1", 3600), token_ok("tok-2", 3600)],
            api=[json_response(200, {}), json_response(200, {})],
        )
        server.run(ex.call(get_lists(ex)))
        clock.now = T0 + 7200
        server.run(ex.call(get_lists(ex)))
        assert server.kinds() == ["token", "api", "token", "api"]
        assert server.api_requests[1].headers["Authorization"] == "Bearer tok-2"


class TestUnauthorizedReplay:
    def test_401_refreshes_once_and_replays(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("stale"), token_ok("fresh")],
            api=[api_error_body(401, "unauthorized", "Unauthorized"), json_response(200, {"ok": True})],
        )
        result = server.run(ex.call(get_lists(ex)))
        assert result.json() == {"ok": True}
        assert server.kinds() == ["token", "api", "token", "api"]
        assert [r.headers["Authorization"] for r in server.api_requests] == ["Bearer stale", "Bearer fresh"]
        assert server.api_requests[0].url == server.api_requests[1].url
        assert ex.tokens.refresh_count == 2
        assert not server.sleeps

    def test_second_401_raises(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("stale"), token_ok("fresh")],
            api=[api_error_body(401, "unauthorized", "Unauthorized")] * 2,
        )
        with pytest.raises(ConstantContactApiError) as info:
            server.run(ex.call(get_lists(ex)))
        assert info.value.status_code == 401
        assert info.value.error_key == "unauthorized"
        assert info.value.path == "/v3/contact_lists"
        assert server.kinds() == ["token", "api", "token", "api"]
        assert server.done()
        assert "fresh" not in str(info.value) and "stale" not in str(info.value)

    def test_401_after_a_retry_still_gets_its_replay(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("stale"), token_ok("fresh")],
            api=[api_error_body(503, "unavailable"), api_error_body(401, "unauthorized"), json_response(200, {})],
        )
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.kinds() == ["token", "api", "sleep", "api", "token", "api"]


class TestRetries:
    def test_503_then_200_sleeps_in_between(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok")], api=[api_error_body(503, "unavailable"), json_response(200, {"n": 1})])
        result = server.run(ex.call(get_lists(ex)))
        assert result.json() == {"n": 1}
        assert server.kinds() == ["token", "api", "sleep", "api"]
        assert 0.005 <= server.sleeps[0] <= 0.01
        assert len(server.token_requests) == 1  # the token is not fetched again for a retry
        assert server.api_requests[0] == server.api_requests[1]

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_retries_exhausted(self, clock, masked, status):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok")], api=[api_error_body(status, "server.error", "down")] * 3)
        with pytest.raises(ConstantContactApiError) as info:
            server.run(ex.call(get_lists(ex)))
        assert info.value.status_code == status
        assert "Gave up after 3 attempts" in str(info.value)
        assert "down" in str(info.value)
        assert server.kinds() == ["token", "api", "sleep", "api", "sleep", "api"]
        assert 0.005 <= server.sleeps[0] <= 0.01
        assert 0.01 <= server.sleeps[1] <= 0.02
        assert server.done()

    def test_max_retries_zero_means_one_attempt(self, clock, masked):
        ex = make_exchange(clock, policy=RetryPolicy(max_retries=0, backoff_base=0.01))
        server = Server(token=[token_ok("tok")], api=[api_error_body(503, "unavailable")])
        with pytest.raises(ConstantContactApiError, match="Gave up after 1 attempts"):
            server.run(ex.call(get_lists(ex)))
        assert server.kinds() == ["token", "api"]

    def test_transport_failure_then_success(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok")], api=[TransportFailure("ConnectionError"), json_response(200, {})])
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.kinds() == ["token", "api", "sleep", "api"]

    def test_transport_failures_exhausted(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok")],
            api=[TransportFailure("ConnectError"), TransportFailure("ReadTimeout"), TransportFailure("ReadTimeout")],
        )
        with pytest.raises(ConstantContactTransportError) as info:
            server.run(ex.call(get_lists(ex)))
        text = str(info.value)
        assert text == "GET /v3/contact_lists failed after 3 attempts: ReadTimeout"
        assert server.kinds() == ["token", "api", "sleep", "api", "sleep", "api"]

    def import_post(self, ex: Exchange) -> HttpRequest:
        return ex.request("POST", "/activities/contacts_json_import", content=b"{}", replay_safe=False)

    def test_a_replay_unsafe_post_that_may_have_arrived_is_not_replayed(self, clock, masked):
        # The guard against importing twice by accident: the flow raises instead of sending again.
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok")], api=[TransportFailure("ReadTimeout", maybe_delivered=True)])
        with pytest.raises(ConstantContactOutcomeUnknownError, match="may have accepted it; it is not replayed"):
            server.run(ex.call(self.import_post(ex)))
        assert server.kinds() == ["token", "api"]

    def test_a_replay_unsafe_post_that_never_left_is_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok")],
            api=[TransportFailure("ConnectError", maybe_delivered=False), json_response(201, {"activity_id": "a"})],
        )
        assert server.run(ex.call(self.import_post(ex))).status_code == 201
        assert server.kinds() == ["token", "api", "sleep", "api"]

    def test_a_replay_unsafe_post_answered_503_is_retried(self, clock, masked):
        # an answer says the request was refused, so sending it again cannot import twice
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok")],
            api=[api_error_body(503, "unavailable"), json_response(201, {"activity_id": "a"})],
        )
        assert server.run(ex.call(self.import_post(ex))).status_code == 201
        assert server.kinds() == ["token", "api", "sleep", "api"]

    def test_a_replay_safe_request_that_may_have_arrived_is_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok")], api=[TransportFailure("ReadTimeout", maybe_delivered=True), json_response(200, {})]
        )
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.kinds() == ["token", "api", "sleep", "api"]

    def test_transport_error_message_has_no_query_or_token(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok-secret")], api=[TransportFailure("ReadTimeout")] * 3)
        with pytest.raises(ConstantContactTransportError) as info:
            server.run(ex.call(ex.request("GET", "/contacts?email=a%40b.co")))
        assert "email" not in str(info.value) and "tok-secret" not in str(info.value)

    def test_throttled_429_is_retried_after_retry_after(self, clock, masked):
        ex = make_exchange(clock, policy=RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=5.0))
        server = Server(
            token=[token_ok("tok")],
            api=[
                json_response(429, {"error_key": "throttled", "error_message": "slow"}, {"Retry-After": "3"}),
                json_response(429, {"error_key": "throttled", "error_message": "slow"}, {"Retry-After": "600"}),
                json_response(200, {}),
            ],
        )
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.sleeps == [3.0, 5.0]

    def test_quota_exceeded_is_not_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[token_ok("tok")],
            api=[json_response(429, {"error_key": "quota_exceeded", "error_message": "Daily quota reached"})],
        )
        with pytest.raises(ConstantContactQuotaExceededError) as info:
            server.run(ex.call(get_lists(ex)))
        assert info.value.status_code == 429
        assert "00:00 UTC" in str(info.value)
        assert "Gave up" not in str(info.value)
        assert server.kinds() == ["token", "api"]
        assert not server.sleeps

    @pytest.mark.parametrize("status", [400, 403, 404, 409, 415])
    def test_client_errors_fail_at_once(self, clock, masked, status):
        ex = make_exchange(clock)
        server = Server(token=[token_ok("tok")], api=[api_error_body(status, "contacts.not_found", "Not found")])
        with pytest.raises(ConstantContactApiError) as info:
            server.run(ex.call(ex.request("GET", "/contacts/abc")))
        assert type(info.value) is ConstantContactApiError
        assert info.value.status_code == status
        assert info.value.error_key == "contacts.not_found"
        assert info.value.method == "GET"
        assert info.value.path == "/v3/contacts/abc"
        assert server.kinds() == ["token", "api"]
        assert ex.tokens.refresh_count == 1


class TestTokenEndpoint:
    def test_invalid_grant_is_an_auth_error_without_retry(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[json_response(400, {"error": "invalid_grant", "error_description": "The refresh token is invalid."})]
        )
        with pytest.raises(ConstantContactAuthError) as info:
            server.run(ex.call(get_lists(ex)))
        text = str(info.value)
        assert "invalid_grant" in text and "Authorize the app again" in text
        assert REFRESH_TOKEN not in text and CLIENT_SECRET not in text
        assert server.kinds() == ["token"]
        assert ex.tokens.refresh_count == 0

    def test_invalid_client_is_an_auth_error_without_retry(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[json_response(401, {"error": "invalid_client", "error_description": "bad client"})])
        with pytest.raises(ConstantContactAuthError, match="client secret"):
            server.run(ex.tokens.access_token())
        assert server.kinds() == ["token"]

    def test_quota_on_the_token_endpoint_is_not_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[json_response(429, {"error_key": "quota_exceeded", "error_message": "quota"})])
        with pytest.raises(ConstantContactAuthError):
            server.run(ex.tokens.access_token())
        assert server.kinds() == ["token"]

    def test_503_is_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[json_response(503, {"message": "unavailable"}), token_ok("tok")],
            api=[json_response(200, {})],
        )
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.kinds() == ["token", "sleep", "token", "api"]
        assert server.api_requests[0].headers["Authorization"] == "Bearer tok"
        assert ex.tokens.refresh_count == 1

    def test_transport_failure_is_retried(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[TransportFailure("ConnectError"), token_ok("tok")])
        assert server.run(ex.tokens.access_token()).value == "tok"
        assert server.kinds() == ["token", "sleep", "token"]

    def test_503_exhausted_gives_up(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[json_response(503, {"message": "unavailable"})] * 3)
        with pytest.raises(ConstantContactApiError, match="Gave up after 3 attempts") as info:
            server.run(ex.tokens.access_token())
        assert info.value.status_code == 503
        assert server.kinds() == ["token", "sleep", "token", "sleep", "token"]
        assert ex.tokens.refresh_count == 0

    def test_transport_failures_exhausted(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[TransportFailure("ConnectError")] * 3)
        with pytest.raises(
            ConstantContactTransportError, match="POST /oauth2/default/v1/token failed after 3 attempts"
        ):
            server.run(ex.tokens.access_token())
        assert server.kinds() == ["token", "sleep", "token", "sleep", "token"]

    def test_200_without_access_token(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(token=[json_response(200, {"token_type": "Bearer"})])
        with pytest.raises(ConstantContactAuthError, match="without an access_token"):
            server.run(ex.call(get_lists(ex)))
        assert server.kinds() == ["token"]
        assert ex.tokens.refresh_count == 0

    def test_failed_refresh_keeps_no_token(self, clock, masked):
        ex = make_exchange(clock)
        server = Server(
            token=[json_response(400, {"error": "invalid_grant"}), token_ok("tok")],
            api=[json_response(200, {})],
        )
        with pytest.raises(ConstantContactAuthError):
            server.run(ex.call(get_lists(ex)))
        # the next call tries the token endpoint again instead of sending without a token
        assert server.run(ex.call(get_lists(ex))).status_code == 200
        assert server.kinds() == ["token", "token", "api"]


class TestRunSync:
    def test_run_sync_drives_a_flow_with_a_fake_session(self, clock, masked):
        """run_sync turns Sleep into its sleep function and requests into session calls."""
        slept: list[float] = []
        answers = deque(
            [
                SimpleNamespace(
                    status_code=200, headers={}, content=json.dumps({"access_token": "tok", "expires_in": 60}).encode()
                ),
                SimpleNamespace(status_code=503, headers={"Retry-After": "0.5"}, content=b""),
                SimpleNamespace(status_code=200, headers={"X": "y"}, content=b'{"ok": 1}'),
            ]
        )
        calls = []

        class FakeSession:
            def request(self, method, url, **kwargs):
                calls.append((method, url, kwargs))
                return answers.popleft()

        ex = make_exchange(clock)
        result = run_sync(ex.call(get_lists(ex)), FakeSession(), timeout=7.0, sleep=slept.append)
        assert result == HttpResponse(200, {"X": "y"}, b'{"ok": 1}')
        assert slept == [0.5]
        assert [c[1] for c in calls] == [
            TOKEN_URL,
            "http://cc.test/v3/contact_lists",
            "http://cc.test/v3/contact_lists",
        ]
        token_kwargs = calls[0][2]
        assert token_kwargs["auth"] == ("client-id-123", CLIENT_SECRET)
        assert token_kwargs["data"] == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
        assert all(c[2]["timeout"] == 7.0 for c in calls)
        assert calls[1][2]["headers"]["Authorization"] == "Bearer tok"
        assert calls[1][2]["params"] == {"limit": 50}
