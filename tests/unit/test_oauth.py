"""Unit tests of the token endpoint's messages (hooks._http): JWT expiry, the refresh grant, answers, errors."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks._http import (
    DEFAULT_LIFETIME_SECONDS,
    AccessToken,
    HttpResponse,
    jwt_expiry,
    parse_token_response,
    reauthorize_hint,
    refresh_request,
    token_error,
)

SIGNING_KEY = "unit-test-signing-key-that-is-at-least-32-bytes-long"
TOKEN_URL = "https://authz.constantcontact.com/oauth2/default/v1/token"
CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK"
REFRESH_TOKEN = "refresh-token-DO-NOT-LEAK"


def make_jwt(**claims) -> str:
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def token_response(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


class TestJwtExpiry:
    @pytest.mark.parametrize("exp", [1_700_000_000, 1, 2_000_000_000])
    def test_real_hs256_jwt(self, exp):
        token = make_jwt(exp=exp, sub="someone", scp=["contact_data", "offline_access"])
        assert jwt_expiry(token) == float(exp)
        assert isinstance(jwt_expiry(token), float)

    @pytest.mark.parametrize("pad", range(4))
    def test_payloads_of_every_padding_length(self, pad):
        token = make_jwt(exp=1_700_000_000, x="a" * pad)
        assert jwt_expiry(token) == 1_700_000_000.0

    def test_float_exp(self):
        token = f"{b64(b'{}')}.{b64(json.dumps({'exp': 1700000000.5}).encode())}.sig"
        assert jwt_expiry(token) == 1700000000.5

    def test_jwt_without_exp(self):
        assert jwt_expiry(make_jwt(sub="someone")) is None

    @pytest.mark.parametrize("exp", ["1700000000", None, [1], {"a": 1}])
    def test_non_numeric_exp(self, exp):
        token = f"{b64(b'{}')}.{b64(json.dumps({'exp': exp}).encode())}.sig"
        assert jwt_expiry(token) is None

    @pytest.mark.parametrize("token", ["opaque-token-value", "", "a.b", "a.b.c.d", "...."])
    def test_not_a_jwt(self, token):
        assert jwt_expiry(token) is None

    @pytest.mark.parametrize(
        "payload",
        [
            "!!!!",  # not base64 at all
            "abcde",  # impossible base64 length
            b64(b"not json"),
            b64(b"\xff\xfe\xfd"),  # not UTF-8
            b64(b"[1, 2, 3]"),  # JSON, but not an object
            b64(b'"a string"'),
            "",
        ],
    )
    def test_garbage_payload(self, payload):
        assert jwt_expiry(f"header.{payload}.signature") is None


class TestRefreshRequest:
    def request(self):
        return refresh_request(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)

    def test_shape(self):
        req = self.request()
        assert req.method == "POST"
        assert req.url == TOKEN_URL
        assert req.form == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
        assert req.basic_auth == (CLIENT_ID, CLIENT_SECRET)
        assert req.headers.get("Accept") == "application/json"
        assert "Authorization" not in req.headers
        assert req.json_body is None and req.content is None and req.params is None

    def test_repr_does_not_leak(self):
        req = self.request()
        for text in (repr(req), str(req)):
            assert CLIENT_SECRET not in text
            assert REFRESH_TOKEN not in text
            assert text == "HttpRequest(POST /oauth2/default/v1/token)"


class TestParseTokenResponse:
    def test_exp_from_the_jwt_wins_over_expires_in(self):
        value = make_jwt(exp=1_700_003_600)
        token = parse_token_response(
            token_response({"access_token": value, "expires_in": 60, "refresh_token": "new-refresh"}),
            now=1_700_000_000,
        )
        assert token.value == value
        assert token.expires_at == 1_700_003_600.0
        assert token.refresh_token == "new-refresh"

    def test_expires_in_fallback_for_opaque_tokens(self):
        token = parse_token_response(
            token_response({"access_token": "opaque", "token_type": "Bearer", "expires_in": 86400}), now=1000.0
        )
        assert token.value == "opaque"
        assert token.expires_at == 1000.0 + 86400
        assert token.refresh_token is None

    def test_expires_in_fallback_for_a_jwt_without_exp(self):
        value = make_jwt(sub="x")
        token = parse_token_response(token_response({"access_token": value, "expires_in": "120"}), now=50.0)
        assert token.expires_at == 170.0

    def test_no_expiry_information_assumes_the_default_lifetime(self):
        token = parse_token_response(token_response({"access_token": "opaque"}), now=1234.0)
        assert token.expires_at == 1234.0 + DEFAULT_LIFETIME_SECONDS

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"token_type": "Bearer", "expires_in": 3600}',
            b"[]",
            b'"access_token"',
            b"<html>login page</html>",
            b"",
        ],
    )
    def test_missing_access_token(self, raw):
        with pytest.raises(ConstantContactAuthError, match="without an access_token"):
            parse_token_response(HttpResponse(200, {}, raw), now=0.0)

    @pytest.mark.parametrize("value", [None, 12345, ["a"]])
    def test_unusable_access_token(self, value):
        with pytest.raises(ConstantContactAuthError):
            parse_token_response(token_response({"access_token": value, "expires_in": 60}), now=0.0)


class TestTokenError:
    def test_invalid_grant_explains_how_to_reauthorize(self):
        err = token_error(
            token_response({"error": "invalid_grant", "error_description": "The refresh token is invalid."}, 400)
        )
        assert isinstance(err, ConstantContactAuthError)
        text = str(err)
        assert "invalid_grant" in text
        assert "The refresh token is invalid." in text
        assert reauthorize_hint() in text
        assert "offline_access" in text and "refresh_token" in text
        assert REFRESH_TOKEN not in text and CLIENT_SECRET not in text

    def test_invalid_grant_names_the_connection_to_authorize_again(self):
        err = token_error(token_response({"error": "invalid_grant", "error_description": "revoked"}, 400), "cc_prod")
        assert "`python -m cc_provider.auth login --conn-id cc_prod`" in str(err)

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (401, {"error": "invalid_client", "error_description": "Client authentication failed."}),
            (400, {"error": "invalid_client", "error_description": "Client authentication failed."}),
            (401, {"error_key": "unauthorized", "error_message": "Unauthorized"}),
        ],
    )
    def test_bad_client_points_at_id_and_secret(self, status, body):
        err = token_error(token_response(body, status))
        text = str(err)
        assert "client credentials" in text
        assert "client ID" in text and "client secret" in text
        assert reauthorize_hint() not in text
        assert REFRESH_TOKEN not in text and CLIENT_SECRET not in text

    def test_401_without_a_body_names_the_status(self):
        text = str(token_error(HttpResponse(401, {}, b"")))
        assert "(401:" in text
        assert "client secret" in text

    def test_other_errors_name_status_and_key(self):
        text = str(token_error(token_response({"error": "unsupported_grant_type"}, 400)))
        assert "answered 400" in text
        assert "unsupported_grant_type" in text
        assert reauthorize_hint() not in text
        assert "client secret" not in text

    def test_other_errors_without_a_key(self):
        text = str(token_error(HttpResponse(500, {}, b"boom")))
        assert "answered 500 (no error key: boom)" in text


class TestAccessToken:
    def test_expires_within(self):
        token = AccessToken("v", expires_at=1000.0)
        assert token.expires_within(0, now=999.0) is False
        assert token.expires_within(0, now=1000.0) is True  # expired exactly now
        assert token.expires_within(0, now=1001.0) is True
        assert token.expires_within(300, now=699.0) is False
        assert token.expires_within(300, now=700.0) is True

    def test_repr_hides_the_value_and_refresh_token(self):
        token = AccessToken("secret-access-token", expires_at=1000.0, refresh_token="secret-refresh-token")
        for text in (repr(token), str(token)):
            assert "secret-access-token" not in text
            assert "secret-refresh-token" not in text
            assert "1000.0" in text
