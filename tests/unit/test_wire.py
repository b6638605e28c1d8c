"""Unit tests for cc_provider.hooks._http's messages: URL joining, error bodies, typed API errors, safe repr."""

from __future__ import annotations

import json

import pytest

from cc_provider.exceptions import ConstantContactApiError, ConstantContactQuotaExceededError
from cc_provider.hooks._connection import join_url
from cc_provider.hooks._http import (
    QUOTA_HINT,
    HttpRequest,
    HttpResponse,
    api_error,
    error_fields,
    parse_error_body,
)

BASE = "https://api.cc.email/v3"


def response(status: int, body: object = None, *, raw: bytes | None = None, headers=None) -> HttpResponse:
    content = raw if raw is not None else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, content)


class TestJoinUrl:
    @pytest.mark.parametrize(
        ("base", "endpoint", "expected"),
        [
            (BASE, "/contact_lists", "https://api.cc.email/v3/contact_lists"),
            (BASE, "contact_lists", "https://api.cc.email/v3/contact_lists"),
            (BASE + "/", "/contact_lists", "https://api.cc.email/v3/contact_lists"),
            (BASE + "/", "contact_lists", "https://api.cc.email/v3/contact_lists"),
            (BASE, "/activities/abc-123", "https://api.cc.email/v3/activities/abc-123"),
            # a path that merely starts with the same letters as the base path is not the base path
            (BASE, "/v30/things", "https://api.cc.email/v3/v30/things"),
            (BASE, "/v3things", "https://api.cc.email/v3/v3things"),
        ],
    )
    def test_endpoint_paths_go_under_the_base_path(self, base, endpoint, expected):
        assert join_url(base, endpoint) == expected

    @pytest.mark.parametrize("base", [BASE, BASE + "/"])
    def test_links_href_that_already_carries_the_base_path_is_not_doubled(self, base):
        href = "/v3/contacts?cursor=bGltaXQ9MSZuZXh0PTI="
        assert join_url(base, href) == "https://api.cc.email/v3/contacts?cursor=bGltaXQ9MSZuZXh0PTI="

    def test_endpoint_equal_to_the_base_path(self):
        assert join_url(BASE, "/v3") == "https://api.cc.email/v3"

    def test_nested_base_path(self):
        base = "http://127.0.0.1:8123/api/v3/"
        assert join_url(base, "/contacts") == "http://127.0.0.1:8123/api/v3/contacts"
        assert join_url(base, "/api/v3/contacts?cursor=x") == "http://127.0.0.1:8123/api/v3/contacts?cursor=x"

    @pytest.mark.parametrize("base", ["http://127.0.0.1:8123", "http://127.0.0.1:8123/"])
    def test_base_with_empty_path(self, base):
        assert join_url(base, "/contacts") == "http://127.0.0.1:8123/contacts"
        assert join_url(base, "contacts") == "http://127.0.0.1:8123/contacts"
        assert join_url(base, "/v3/contacts?cursor=a") == "http://127.0.0.1:8123/v3/contacts?cursor=a"

    @pytest.mark.parametrize(
        "url",
        [
            "https://api.cc.email/v3/contacts?cursor=abc",
            "https://api.cc.email/other/path",
        ],
    )
    def test_absolute_url_on_the_same_origin_is_accepted_unchanged(self, url):
        assert join_url(BASE, url) == url

    def test_absolute_url_with_port_on_the_same_origin(self):
        assert (
            join_url("http://localhost:9000/v3", "http://localhost:9000/v3/x?y=1") == "http://localhost:9000/v3/x?y=1"
        )

    @pytest.mark.parametrize(
        "url",
        [
            "https://evil.example.com/v3/contacts",
            "http://api.cc.email/v3/contacts",  # scheme downgrade is another origin
            "https://api.cc.email.evil.com/v3/contacts",
            "https://api.cc.email:8443/v3/contacts",
            "https://api.cc.email@evil.com/v3/contacts",
        ],
    )
    def test_other_origins_are_refused(self, url):
        with pytest.raises(ValueError, match="another host"):
            join_url(BASE, url)

    def test_refusal_names_the_foreign_origin_only(self):
        with pytest.raises(ValueError) as info:
            join_url(BASE, "https://evil.example.com/steal?token=abc")
        assert "https://evil.example.com" in str(info.value)
        assert "token=abc" not in str(info.value)


class TestErrorFields:
    def test_array_body(self):
        body = [
            {"error_key": "contacts.api.validation.error", "error_message": "email is invalid"},
            {"error_key": "second.key", "error_message": "name is too long"},
        ]
        assert error_fields(body) == ("contacts.api.validation.error", "email is invalid; name is too long")

    def test_single_object_body(self):
        assert error_fields({"error_key": "unauthorized", "error_message": "Unauthorized"}) == (
            "unauthorized",
            "Unauthorized",
        )

    def test_oauth_body(self):
        body = {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}
        assert error_fields(body) == ("invalid_grant", "The refresh token is invalid or expired.")

    def test_plain_message_key(self):
        assert error_fields({"message": "Server Error"}) == (None, "Server Error")

    def test_non_object_items_are_skipped(self):
        assert error_fields(["oops", 3, None, {"error_key": "k", "error_message": "m"}]) == ("k", "m")

    @pytest.mark.parametrize("body", [[], {}, "text", None, 42])
    def test_nothing_useful(self, body):
        assert error_fields(body) == (None, "")


class TestParseErrorBody:
    def test_array_body(self):
        resp = response(400, [{"error_key": "bad.request", "error_message": "list_ids is required"}])
        assert parse_error_body(resp) == ("bad.request", "list_ids is required")

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (401, {"error_key": "unauthorized", "error_message": "Unauthorized"}),
            (429, {"error_key": "throttled", "error_message": "Too many requests"}),
        ],
    )
    def test_single_object_body(self, status, body):
        assert parse_error_body(response(status, body)) == (body["error_key"], body["error_message"])

    def test_oauth_body(self):
        resp = response(400, {"error": "invalid_client", "error_description": "Client authentication failed"})
        assert parse_error_body(resp) == ("invalid_client", "Client authentication failed")

    def test_non_json_body_returns_the_text(self):
        resp = response(502, raw=b"  <html>Bad Gateway</html>\n")
        assert parse_error_body(resp) == (None, "<html>Bad Gateway</html>")

    def test_non_json_body_is_truncated_to_200_bytes(self):
        resp = response(500, raw=b"x" * 1000)
        key, message = parse_error_body(resp)
        assert key is None
        assert message == "x" * 200

    def test_non_utf8_body_does_not_raise(self):
        key, message = parse_error_body(response(500, raw=b"\xff\xfe broken"))
        assert key is None
        assert "broken" in message

    @pytest.mark.parametrize("raw", [b"", b"   \n"])
    def test_empty_body(self, raw):
        assert parse_error_body(response(503, raw=raw)) == (None, "no error details in the response body")

    def test_json_without_a_message_falls_back_to_the_text(self):
        key, message = parse_error_body(response(500, {"error_key": "server.error"}))
        assert key == "server.error"
        assert message == '{"error_key": "server.error"}'


class TestApiError:
    def request(self, url: str = BASE + "/contacts/abc?email=person%40example.com&cursor=zzz", method="GET"):
        return HttpRequest(method, url, headers={"Authorization": "Bearer secret-token"})

    def test_quota_exceeded_gets_its_own_type_and_a_reset_hint(self):
        resp = response(429, {"error_key": "quota_exceeded", "error_message": "Daily quota reached"})
        err = api_error(self.request(), resp)
        assert type(err) is ConstantContactQuotaExceededError
        assert err.status_code == 429
        assert err.error_key == "quota_exceeded"
        assert err.error_message == "Daily quota reached"
        assert err.method == "GET"
        assert err.path == "/v3/contacts/abc"
        assert "resets at 00:00 UTC" in str(err)
        assert QUOTA_HINT in str(err)
        assert "?" not in str(err) and "cursor" not in str(err) and "person" not in str(err)

    def test_quota_exceeded_ignores_the_callers_hint(self):
        resp = response(429, [{"error_key": "quota_exceeded", "error_message": "Daily quota reached"}])
        err = api_error(self.request(), resp, hint="Gave up after 3 attempts.")
        assert isinstance(err, ConstantContactQuotaExceededError)
        assert "00:00 UTC" in str(err)

    def test_throttled_429_is_a_plain_api_error(self):
        resp = response(429, {"error_key": "throttled", "error_message": "Slow down"})
        err = api_error(self.request(), resp)
        assert type(err) is ConstantContactApiError
        assert err.status_code == 429
        assert err.error_key == "throttled"
        assert "00:00 UTC" not in str(err)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 415, 500, 503])
    def test_other_statuses(self, status):
        resp = response(status, [{"error_key": "some.key", "error_message": "something went wrong"}])
        err = api_error(self.request(method="PUT"), resp, hint="Extra hint.")
        assert type(err) is ConstantContactApiError
        assert not isinstance(err, ConstantContactQuotaExceededError)
        assert err.status_code == status
        assert err.error_key == "some.key"
        assert err.error_message == "something went wrong"
        assert err.method == "PUT"
        assert err.path == "/v3/contacts/abc"
        text = str(err)
        assert text.startswith(f"Constant Contact answered {status} (some.key) for PUT /v3/contacts/abc: ")
        assert "something went wrong" in text
        assert text.endswith("Extra hint.")
        assert "?" not in text and "email=" not in text and "cursor" not in text
        assert "secret-token" not in text

    def test_non_json_error(self):
        err = api_error(self.request(), response(502, raw=b"Bad Gateway"))
        assert err.status_code == 502
        assert err.error_key is None
        assert err.error_message == "Bad Gateway"
        assert "()" not in str(err)


class TestHttpRequest:
    TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.very-secret-bearer-token"

    def test_repr_and_str_never_show_headers_or_query(self):
        req = HttpRequest(
            "GET",
            BASE + "/contacts?email=person%40example.com",
            headers={"Authorization": f"Bearer {self.TOKEN}"},
            basic_auth=("client-id", "client-secret-value"),
        )
        for text in (repr(req), str(req), f"{req}", f"{req!r}"):
            assert text == "HttpRequest(GET /v3/contacts)"
            assert self.TOKEN not in text
            assert "Bearer" not in text
            assert "client-secret-value" not in text

    def test_with_header_adds_a_header_without_mutating_the_original(self):
        req = HttpRequest("POST", BASE + "/x", headers={"Accept": "application/json"})
        with_auth = req.with_header("Authorization", f"Bearer {self.TOKEN}")
        assert with_auth.headers == {"Accept": "application/json", "Authorization": f"Bearer {self.TOKEN}"}
        assert req.headers == {"Accept": "application/json"}
        assert with_auth.url == req.url and with_auth.method == req.method
        assert self.TOKEN not in repr(with_auth)

    def test_path_drops_the_query(self):
        assert HttpRequest("GET", BASE + "/contacts?limit=500&cursor=x").path == "/v3/contacts"


class TestHttpResponse:
    @pytest.mark.parametrize(
        ("status", "ok"), [(199, False), (200, True), (201, True), (204, True), (299, True), (300, False), (404, False)]
    )
    def test_ok(self, status, ok):
        assert HttpResponse(status, {}, b"").ok is ok

    def test_json(self):
        assert HttpResponse(200, {}, b'{"a": [1, 2]}').json() == {"a": [1, 2]}
