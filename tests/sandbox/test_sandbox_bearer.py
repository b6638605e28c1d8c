"""The bearer check on /v3: the gateway's exact 401, token expiry and forced expiry."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from cc_sandbox.testing import expire_tokens, patch_config, sandbox_stats

UNAUTHORIZED = b'{"error_key":"unauthorized","error_message":"Unauthorized"}'


def assert_gateway_401(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.content == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == "Bearer realm=api.cc.email"


def forged_token() -> str:
    now = int(time.time())
    claims = {"jti": "AT.forged", "iat": now, "exp": now + 600, "cid": "cc-sandbox-client-id", "aud": "api://default"}
    return jwt.encode(claims, "a-different-secret-that-is-long-enough-for-hs256", algorithm="HS256")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-jwt", "Basic Y2xpZW50OnNlY3JldA==", "forged"],
    ids=["missing", "empty-bearer", "garbage", "basic", "forged-signature"],
)
def test_missing_or_invalid_tokens_get_the_gateway_401(sandbox, header):
    headers = {}
    if header == "forged":
        headers["Authorization"] = f"Bearer {forged_token()}"
    elif header is not None:
        headers["Authorization"] = header
    for path in ("/v3/contact_lists", "/v3/contacts", "/v3/activities/x"):
        assert_gateway_401(requests.get(sandbox.url + path, headers=headers, timeout=10))
    assert sandbox_stats(sandbox)["unauthorized"] == 3


def test_a_valid_token_passes(api):
    assert api.get("/contact_lists").status_code == 200


def test_an_expired_token_gets_401(api, sandbox):
    patch_config(sandbox, access_token_ttl=1)
    api.session.headers["Authorization"] = f"Bearer {api.new_token()}"
    assert api.get("/contact_lists").status_code in (200, 401)  # may already be past the 1 s mark
    deadline = time.monotonic() + 3
    while (response := api.get("/contact_lists")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_gateway_401(response)


def test_forced_expiry_invalidates_every_issued_token(api, sandbox):
    other = api.new_token()
    assert expire_tokens(sandbox) >= 2
    assert_gateway_401(api.get("/contact_lists"))
    assert_gateway_401(requests.get(api.url("/contacts"), headers={"Authorization": f"Bearer {other}"}, timeout=10))
    api.session.headers["Authorization"] = f"Bearer {api.new_token()}"
    assert api.get("/contact_lists").status_code == 200


def test_tokens_survive_a_reset(api, sandbox):
    from cc_sandbox.testing import reset_sandbox

    reset_sandbox(sandbox)
    assert api.get("/contact_lists").status_code == 200
