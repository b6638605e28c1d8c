"""The token endpoint: refresh grant, client authentication, errors, JWT claims, rotation."""

from __future__ import annotations

import base64

import jwt
import pytest
import requests

from cc_sandbox import SandboxConfig, SandboxServer
from cc_sandbox.testing import patch_config, sandbox_stats

CLIENT = ("cc-sandbox-client-id", "cc-sandbox-client-secret")
REFRESH = "cc-sandbox-refresh-token"


def grant(server: SandboxServer, *, data=None, params=None, auth=CLIENT, headers=None) -> requests.Response:
    return requests.post(server.token_url, data=data, params=params, auth=auth, headers=headers, timeout=10)


def test_refresh_grant_in_the_form_body(sandbox):
    response = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": REFRESH})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "contact_data offline_access"
    assert body["refresh_token"] == REFRESH  # long-lived mode hands back the same token
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 86400
    assert claims["iss"] == f"{sandbox.url}/oauth2/default"
    assert claims["cid"] == CLIENT[0]
    assert claims["scp"] == ["contact_data", "offline_access"]
    assert claims["sub"] and claims["jti"]
    stats = sandbox_stats(sandbox)
    assert (stats["tokens_issued"], stats["refreshes"]) == (1, 1)


def test_refresh_grant_in_the_query_string(sandbox):
    response = grant(sandbox, params={"grant_type": "refresh_token", "refresh_token": REFRESH})
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def test_query_string_and_body_are_merged(sandbox):
    response = grant(sandbox, params={"grant_type": "refresh_token"}, data={"refresh_token": REFRESH})
    assert response.status_code == 200, response.text


def test_each_grant_is_a_new_token(sandbox):
    first = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": REFRESH}).json()
    second = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": REFRESH}).json()
    assert first["access_token"] != second["access_token"]
    assert sandbox_stats(sandbox)["refreshes"] == 2


@pytest.mark.parametrize(
    "auth",
    [
        ("cc-sandbox-client-id", "wrong-secret"),
        ("someone-else", "cc-sandbox-client-secret"),
        None,
    ],
    ids=["wrong-secret", "unknown-client", "no-basic-auth"],
)
def test_bad_client_is_401_invalid_client(sandbox, auth):
    response = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": REFRESH}, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"]


def test_garbled_basic_header_is_invalid_client(sandbox):
    response = grant(
        sandbox,
        data={"grant_type": "refresh_token", "refresh_token": REFRESH},
        auth=None,
        headers={"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unknown_refresh_token_is_400_invalid_grant(sandbox):
    response = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": "not-a-token"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid or expired.",
    }
    assert sandbox_stats(sandbox)["tokens_issued"] == 0


@pytest.mark.parametrize("data", [{"refresh_token": REFRESH}, {"grant_type": "refresh_token"}, {}])
def test_missing_parameters_are_invalid_request(sandbox, data):
    response = grant(sandbox, data=data)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_other_grant_types_are_unsupported(sandbox):
    response = grant(sandbox, data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_expires_in_follows_the_runtime_ttl(sandbox):
    patch_config(sandbox, access_token_ttl=120)
    body = grant(sandbox, data={"grant_type": "refresh_token", "refresh_token": REFRESH}).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 120
    assert claims["exp"] - claims["iat"] == 120


def test_rotating_refresh_tokens_are_single_use():
    with SandboxServer(SandboxConfig(refresh_token_mode="rotating", token_rate_limit_per_second=0)) as server:
        first = grant(server, data={"grant_type": "refresh_token", "refresh_token": REFRESH})
        assert first.status_code == 200
        rotated = first.json()["refresh_token"]
        assert rotated != REFRESH
        reused = grant(server, data={"grant_type": "refresh_token", "refresh_token": REFRESH})
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        assert grant(server, data={"grant_type": "refresh_token", "refresh_token": rotated}).status_code == 200
        assert (server.state.stats.refreshes, server.state.stats.invalid_grants) == (2, 1)
