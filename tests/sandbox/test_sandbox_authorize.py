"""The OAuth server beyond refresh: /authorize, the code grant with and without PKCE, the device flow,
per-client refresh-token modes, idle expiry, revocation and the scope check on /v3."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from cc_sandbox.testing import advance_clock, patch_config, register_client, revoke_refresh_tokens

CLIENT = ("cc-sandbox-client-id", "cc-sandbox-client-secret")
REDIRECT = "http://localhost:8080/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def authorize(sandbox, **params) -> requests.Response:
    query = {
        "client_id": CLIENT[0],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "contact_data offline_access",
        "state": "s-123",
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    return requests.get(f"{sandbox.auth_base_url}/authorize", params=query, allow_redirects=False, timeout=10)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(sandbox, data, auth=CLIENT) -> requests.Response:
    return requests.post(sandbox.token_url, data=data, auth=auth, timeout=10)


def exchange(sandbox, code: str, auth=CLIENT, **extra) -> requests.Response:
    return token(sandbox, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}, auth)


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"a-very-random-verifier-of-32-bytes!").decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def test_authorize_consents_and_redirects_with_code_state_and_scope(sandbox):
    params = redirect_params(authorize(sandbox))
    assert params["state"] == "s-123" and params["scope"] == "contact_data offline_access" and params["code"]
    body = exchange(sandbox, params["code"]).json()
    assert body["refresh_token"] and body["scope"] == "contact_data offline_access"


def test_codes_are_single_use_and_live_five_minutes(sandbox):
    code = redirect_params(authorize(sandbox))["code"]
    assert exchange(sandbox, code).status_code == 200
    reused = exchange(sandbox, code)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    late = redirect_params(authorize(sandbox))["code"]
    advance_clock(sandbox, 301)
    assert exchange(sandbox, late).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match(sandbox):
    unregistered = authorize(sandbox, redirect_uri="http://evil.example/cb")
    assert unregistered.status_code == 400 and "Location" not in unregistered.headers
    assert unregistered.json()["error"] == "invalid_request"
    code = redirect_params(authorize(sandbox))["code"]
    other = token(sandbox, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "/x"})
    assert other.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "params, error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"state": None}, "invalid_request"),
        ({"scope": "contact_data everything"}, "invalid_scope"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_authorize_errors_are_redirected(sandbox, params, error):
    assert redirect_params(authorize(sandbox, **params))["error"] == error


def test_no_refresh_token_without_offline_access(sandbox):
    code = redirect_params(authorize(sandbox, scope="contact_data"))["code"]
    body = exchange(sandbox, code).json()
    assert "refresh_token" not in body and body["scope"] == "contact_data"


def test_pkce_code_exchange_needs_the_verifier_and_no_secret(sandbox):
    verifier, challenge = pkce_pair()
    code = redirect_params(authorize(sandbox, code_challenge=challenge, code_challenge_method="S256"))["code"]
    wrong = exchange(sandbox, code, auth=None, client_id=CLIENT[0], code_verifier="wrong")
    assert wrong.json()["error"] == "invalid_grant"
    code = redirect_params(authorize(sandbox, code_challenge=challenge, code_challenge_method="S256"))["code"]
    body = exchange(sandbox, code, auth=None, client_id=CLIENT[0], code_verifier=verifier).json()
    refreshed = token(
        sandbox, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": CLIENT[0]}, None
    )
    assert refreshed.status_code == 200  # a PKCE grant refreshes without the secret


def test_a_public_request_needs_pkce(sandbox):
    code = redirect_params(authorize(sandbox))["code"]
    assert exchange(sandbox, code, auth=None, client_id=CLIENT[0]).status_code == 401
    default = {"grant_type": "refresh_token", "refresh_token": sandbox.config.refresh_token, "client_id": CLIENT[0]}
    assert token(sandbox, default, None).json()["error"] == "invalid_client"


def test_device_flow_pending_slow_down_then_tokens(sandbox):
    patch_config(sandbox, device_poll_interval=0.2)
    started = requests.post(
        f"{sandbox.auth_base_url}/device/authorize",
        data={"client_id": CLIENT[0], "scope": "contact_data offline_access"},
        timeout=10,
    ).json()
    assert started["verification_uri"] == f"{sandbox.url}/activate" and started["interval"] == 0.2
    poll = {"grant_type": DEVICE_GRANT, "client_id": CLIENT[0], "device_code": started["device_code"]}
    assert token(sandbox, poll, None).json()["error"] == "authorization_pending"
    assert token(sandbox, poll, None).json()["error"] == "slow_down"  # polled again at once
    assert requests.get(started["verification_uri_complete"], timeout=10).status_code == 200
    body = token(sandbox, poll, None).json()
    assert body["access_token"] and body["refresh_token"]
    assert token(sandbox, poll, None).json()["error"] == "invalid_grant"  # used up


def test_device_codes_can_be_denied_and_expire(sandbox):
    from cc_sandbox.testing import admin_call

    def start():
        return requests.post(
            f"{sandbox.auth_base_url}/device/authorize",
            data={"client_id": CLIENT[0], "scope": "contact_data"},
            timeout=10,
        ).json()

    denied = start()
    admin_call(sandbox, "POST", f"device/{denied['user_code']}/deny")
    poll = {"grant_type": DEVICE_GRANT, "client_id": CLIENT[0], "device_code": denied["device_code"]}
    assert token(sandbox, poll, None).json()["error"] == "access_denied"
    expired = start()
    advance_clock(sandbox, 601)
    poll["device_code"] = expired["device_code"]
    assert token(sandbox, poll, None).json()["error"] == "expired_token"


def test_refresh_token_mode_is_chosen_per_client(sandbox):
    register_client(sandbox, "rotating-app", client_secret="s3cret", refresh_token="r-0", refresh_token_mode="rotating")
    auth = ("rotating-app", "s3cret")
    first = token(sandbox, {"grant_type": "refresh_token", "refresh_token": "r-0"}, auth).json()["refresh_token"]
    assert first != "r-0"
    second = token(sandbox, {"grant_type": "refresh_token", "refresh_token": first}, auth).json()["refresh_token"]
    for old in ("r-0", first):  # every older token is revoked
        reused = token(sandbox, {"grant_type": "refresh_token", "refresh_token": old}, auth)
        assert reused.json() == {
            "error": "invalid_grant",
            "error_description": "The refresh token is invalid or expired.",
        }
    assert token(sandbox, {"grant_type": "refresh_token", "refresh_token": second}, auth).status_code == 200
    default = token(sandbox, {"grant_type": "refresh_token", "refresh_token": sandbox.config.refresh_token})
    assert default.json()["refresh_token"] == sandbox.config.refresh_token  # the default client stays long-lived


def test_unused_refresh_tokens_expire_after_180_days(sandbox):
    grant = {"grant_type": "refresh_token", "refresh_token": sandbox.config.refresh_token}
    advance_clock(sandbox, 179 * 86400)
    assert token(sandbox, grant).status_code == 200  # use keeps it alive
    advance_clock(sandbox, 181 * 86400)
    assert token(sandbox, grant).json()["error"] == "invalid_grant"


def test_revoked_refresh_tokens_are_invalid_grant(sandbox):
    assert revoke_refresh_tokens(sandbox) == 1
    grant = {"grant_type": "refresh_token", "refresh_token": sandbox.config.refresh_token}
    assert token(sandbox, grant).json()["error"] == "invalid_grant"


def test_a_token_without_contact_data_is_403(sandbox):
    code = redirect_params(authorize(sandbox, scope="campaign_data"))["code"]
    access = exchange(sandbox, code).json()["access_token"]
    response = requests.get(
        f"{sandbox.api_base_url}/contacts", headers={"Authorization": f"Bearer {access}"}, timeout=10
    )
    assert response.status_code == 403
    assert response.json()[0]["error_key"] == "forbidden"
