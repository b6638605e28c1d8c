"""
Unit tests for the activity flows of cc_provider.hooks.constant_contact: many activities, few requests.

As in test_exchange.py, each test plays the server (tests/flow_driver.py): it drives the flow generator
by hand, answers every HttpRequest from a script, performs Blocking calls in place and records Sleep
actions without sleeping. No sockets.
"""

from __future__ import annotations

import time

import pytest

from cc_provider.credential_stores import MemoryTokenStore, TokenRecord
from cc_provider.exceptions import (
    ActivityFailedError,
    ActivityNotFoundError,
    ConstantContactApiError,
    ConstantContactQuotaExceededError,
    ConstantContactTransportError,
)
from cc_provider.hooks._connection import Exchange
from cc_provider.hooks._http import ApiSettings, Blocking, HttpResponse, Sleep, TransportFailure
from cc_provider.hooks._retry import RateLimiter
from cc_provider.hooks.constant_contact import (
    MAX_LIST_PAGES,
    activities_flow,
    activity_flow,
    next_href,
)
from tests import flow_driver
from tests.flow_driver import ScriptedServer, json_response

SETTINGS = ApiSettings(
    client_id="client-id-123",
    client_secret="client-secret",
    refresh_token="refresh-token",
    api_base_url="http://cc.test/v3",
    auth_base_url="http://auth.test/oauth2/default/v1",
)
BASE = "http://cc.test/v3"
LIST_URL = f"{BASE}/activities"


def token_ok(value: str = "tok") -> HttpResponse:
    return json_response(200, {"access_token": value, "token_type": "Bearer", "expires_in": 3600})


def api_error(status: int, key: str = "error", message: str = "error") -> HttpResponse:
    return json_response(status, [{"error_key": key, "error_message": message}])


def body(activity_id: str, state: str = "processing") -> dict:
    return {"activity_id": activity_id, "state": state, "percent_done": 50}


def page(*activity_ids: str, next_link: str | None = None, extra: list | None = None) -> HttpResponse:
    content: dict = {"activities": [body(a, "completed") for a in activity_ids] + (extra or [])}
    if next_link is not None:
        content["_links"] = {"next": {"href": next_link}}
    return json_response(200, content)


def Server(api=(), token=None) -> ScriptedServer:  # noqa: N802 - reads as the driver it builds
    """The shared driver, with one token answer scripted by default."""
    return ScriptedServer([token_ok()] if token is None else token, api)


def make_exchange(**kwargs) -> Exchange:
    return flow_driver.make_exchange(SETTINGS, **kwargs)


@pytest.fixture
def exchange() -> Exchange:
    return make_exchange()


class TestNextHref:
    @pytest.mark.parametrize(
        "content", [{}, {"_links": None}, {"_links": {}}, {"_links": {"next": None}}, {"_links": {"next": {}}}]
    )
    def test_last_page(self, content):
        assert next_href(content) is None

    def test_next_page(self):
        assert next_href({"_links": {"next": {"href": "/v3/activities?next=abc"}}}) == "/v3/activities?next=abc"


class TestOneActivity:
    def test_get_by_id(self, exchange):
        server = Server(api=[json_response(200, body("a1"))])
        assert server.run(activity_flow(exchange, "a1")) == body("a1")
        (request,) = server.api_requests
        assert request.method == "GET"
        assert request.url == f"{BASE}/activities/a1"
        assert request.params is None
        assert request.headers["Authorization"] == "Bearer tok"
        assert server.done()

    @pytest.mark.parametrize(
        ("activity_id", "quoted"),
        [
            ("a/b", "a%2Fb"),
            ("a b?c#d", "a%20b%3Fc%23d"),
            ("../contacts", "..%2Fcontacts"),
            ("x%2Fy", "x%252Fy"),
            ("é", "%C3%A9"),
        ],
    )
    def test_id_is_url_quoted(self, exchange, activity_id, quoted):
        server = Server(api=[json_response(200, body(activity_id))])
        server.run(activity_flow(exchange, activity_id))
        assert server.urls() == [f"{BASE}/activities/{quoted}"]

    def test_404_means_not_found_with_the_retention_rule(self, exchange):
        server = Server(api=[api_error(404, "not_found", "Activity not found")])
        with pytest.raises(ActivityNotFoundError) as info:
            server.run(activity_flow(exchange, "old-one"))
        text = str(info.value)
        assert "Activity old-one was not found" in text
        assert "10 days" in text
        assert isinstance(info.value, ActivityFailedError)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        assert len(server.api_requests) == 1  # a 404 is not retried

    @pytest.mark.parametrize("status", [400, 401, 403, 409])
    def test_other_client_errors_propagate(self, exchange, status):
        token = (token_ok("stale"), token_ok("fresh")) if status == 401 else (token_ok(),)
        server = Server(api=[api_error(status, "some.key", "Nope")] * 2, token=token)
        with pytest.raises(ConstantContactApiError) as info:
            server.run(activity_flow(exchange, "a1"))
        assert not isinstance(info.value, ActivityNotFoundError)
        assert info.value.status_code == status
        assert info.value.path == "/v3/activities/a1"

    def test_server_errors_are_retried_then_propagate(self, exchange):
        server = Server(api=[api_error(503, "unavailable")] * 3)
        with pytest.raises(ConstantContactApiError, match="Gave up after 3 attempts") as info:
            server.run(activity_flow(exchange, "a1"))
        assert not isinstance(info.value, ActivityNotFoundError)
        assert info.value.status_code == 503
        assert sum(isinstance(a, Sleep) for a in server.actions) == 2

    def test_a_transient_failure_is_retried(self, exchange):
        server = Server(api=[TransportFailure("ReadTimeout"), json_response(200, body("a1"))])
        assert server.run(activity_flow(exchange, "a1")) == body("a1")
        kinds = [type(a).__name__ for a in server.actions]
        assert kinds == ["HttpRequest", "HttpRequest", "Sleep", "HttpRequest"]  # token, api, back-off, api

    def test_transport_failures_propagate(self, exchange):
        server = Server(api=[TransportFailure("ConnectError")] * 3)
        with pytest.raises(ConstantContactTransportError):
            server.run(activity_flow(exchange, "a1"))

    def test_quota_propagates(self, exchange):
        server = Server(api=[json_response(429, {"error_key": "quota_exceeded", "error_message": "quota"})])
        with pytest.raises(ConstantContactQuotaExceededError):
            server.run(activity_flow(exchange, "a1"))


class TestFewActivities:
    def test_one_id(self, exchange):
        server = Server(api=[json_response(200, body("a1"))])
        assert server.run(activities_flow(exchange, ["a1"])) == {"a1": body("a1")}
        assert server.urls() == [f"{BASE}/activities/a1"]

    def test_two_ids_are_read_one_by_one(self, exchange):
        server = Server(api=[json_response(200, body("a1")), json_response(200, body("a2", "completed"))])
        result = server.run(activities_flow(exchange, ["a1", "a2"]))
        assert result == {"a1": body("a1"), "a2": body("a2", "completed")}
        assert server.urls() == [f"{BASE}/activities/a1", f"{BASE}/activities/a2"]
        assert all(r.params is None for r in server.api_requests)
        assert server.done()

    def test_repeated_ids_count_once(self, exchange):
        server = Server(api=[json_response(200, body("a1")), json_response(200, body("a2"))])
        result = server.run(activities_flow(exchange, ["a1", "a2", "a1"]))
        assert set(result) == {"a1", "a2"}
        assert server.urls() == [f"{BASE}/activities/a1", f"{BASE}/activities/a2"]

    def test_no_ids(self, exchange):
        server = Server(token=())
        assert server.run(activities_flow(exchange, [])) == {}
        assert server.actions == []

    def test_ids_are_url_quoted(self, exchange):
        server = Server(api=[json_response(200, body("a/1")), json_response(200, body("b 2"))])
        server.run(activities_flow(exchange, ["a/1", "b 2"]))
        assert server.urls() == [f"{BASE}/activities/a%2F1", f"{BASE}/activities/b%202"]

    def test_404_is_activity_not_found(self, exchange):
        server = Server(api=[json_response(200, body("a1")), api_error(404, "not_found")])
        with pytest.raises(ActivityNotFoundError, match="Activity a2 was not found.*10 days"):
            server.run(activities_flow(exchange, ["a1", "a2"]))

    def test_other_errors_propagate(self, exchange):
        server = Server(api=[api_error(403, "forbidden", "Not allowed")])
        with pytest.raises(ConstantContactApiError, match="Not allowed") as info:
            server.run(activities_flow(exchange, ["a1", "a2"]))
        assert info.value.status_code == 403
        assert not isinstance(info.value, ActivityNotFoundError)
        assert len(server.api_requests) == 1


class TestManyActivities:
    IDS = ["a1", "a2", "a3"]

    def test_all_on_the_first_page_is_one_request(self, exchange):
        server = Server(api=[page("x0", "a3", "a1", "a2", next_link="/v3/activities?next=p2")])
        result = server.run(activities_flow(exchange, self.IDS))
        assert result == {a: body(a, "completed") for a in self.IDS}
        (request,) = server.api_requests
        assert request.method == "GET"
        assert request.url == LIST_URL
        assert request.params == {"limit": 500}
        assert server.done()  # the next link was not followed

    def test_following_next_links(self, exchange):
        server = Server(
            api=[
                page("a2", "x1", next_link="/v3/activities?next=p2"),
                page("x2", next_link="/v3/activities?next=p3"),
                page("a1", "a3", next_link="/v3/activities?next=p4"),
            ]
        )
        result = server.run(activities_flow(exchange, self.IDS))
        assert set(result) == set(self.IDS)
        assert server.urls() == [LIST_URL, f"{BASE}/activities?next=p2", f"{BASE}/activities?next=p3"]
        assert [r.params for r in server.api_requests] == [{"limit": 500}, None, None]
        assert server.done()

    def test_absolute_next_link_on_the_api_host(self, exchange):
        server = Server(api=[page("a1", next_link=f"{BASE}/activities?next=p2"), page("a2", "a3")])
        assert set(server.run(activities_flow(exchange, self.IDS))) == set(self.IDS)
        assert server.urls()[1] == f"{BASE}/activities?next=p2"

    def test_a_next_link_to_another_host_is_refused(self, exchange):
        server = Server(api=[page("a1", next_link="https://evil.example.com/v3/activities?next=p2")])
        with pytest.raises(ValueError, match="another host"):
            server.run(activities_flow(exchange, self.IDS))
        assert len(server.api_requests) == 1

    def test_ids_not_listed_are_read_one_by_one(self, exchange):
        server = Server(
            api=[
                page("a2", next_link="/v3/activities?next=p2"),
                page("x1"),  # the last page: no next link
                json_response(200, body("a1")),
                json_response(200, body("a3", "initialized")),
            ]
        )
        result = server.run(activities_flow(exchange, self.IDS))
        assert result == {"a1": body("a1"), "a2": body("a2", "completed"), "a3": body("a3", "initialized")}
        assert server.urls() == [
            LIST_URL,
            f"{BASE}/activities?next=p2",
            f"{BASE}/activities/a1",
            f"{BASE}/activities/a3",
        ]
        assert server.done()

    def test_at_most_max_list_pages_are_read(self, exchange):
        pages = [page(f"x{i}", next_link=f"/v3/activities?next=p{i + 2}") for i in range(MAX_LIST_PAGES)]
        per_id = [json_response(200, body(a)) for a in self.IDS]
        server = Server(api=pages + per_id)
        result = server.run(activities_flow(exchange, self.IDS))
        assert result == {a: body(a) for a in self.IDS}
        urls = server.urls()
        assert urls[:MAX_LIST_PAGES] == [LIST_URL] + [f"{BASE}/activities?next=p{i}" for i in range(2, 5)]
        assert urls[MAX_LIST_PAGES:] == [f"{BASE}/activities/{a}" for a in self.IDS]
        assert server.done()

    def test_pages_with_odd_entries(self, exchange):
        odd = [{"state": "completed"}, {"activity_id": None}, {"activity_id": "a4"}]
        server = Server(api=[page("a1", "a2", "a3", extra=odd)])
        assert set(server.run(activities_flow(exchange, self.IDS))) == set(self.IDS)

    @pytest.mark.parametrize("content", [{}, {"activities": None}, {"activities": []}])
    def test_empty_pages(self, exchange, content):
        server = Server(api=[json_response(200, content)] + [json_response(200, body(a)) for a in self.IDS])
        assert set(server.run(activities_flow(exchange, self.IDS))) == set(self.IDS)
        assert server.urls() == [LIST_URL] + [f"{BASE}/activities/{a}" for a in self.IDS]

    def test_listed_body_is_returned_as_is(self, exchange):
        listed = {**body("a1", "completed"), "status": {"person_count": 3}, "_links": {"self": {"href": "/x"}}}
        server = Server(api=[json_response(200, {"activities": [listed, body("a2"), body("a3")]})])
        assert server.run(activities_flow(exchange, self.IDS))["a1"] == listed

    def test_repeated_ids(self, exchange):
        server = Server(api=[page("a1", "a2", "a3")])
        assert set(server.run(activities_flow(exchange, ["a1", "a2", "a1", "a3"]))) == set(self.IDS)
        assert server.urls() == [LIST_URL]

    def test_fallback_ids_are_url_quoted(self, exchange):
        server = Server(api=[page("a1"), json_response(200, body("b/2")), json_response(200, body("c 3"))])
        server.run(activities_flow(exchange, ["a1", "b/2", "c 3"]))
        assert server.urls()[1:] == [f"{BASE}/activities/b%2F2", f"{BASE}/activities/c%203"]

    def test_404_on_a_fallback_is_activity_not_found(self, exchange):
        server = Server(api=[page("a1", "a2"), api_error(404, "not_found")])
        with pytest.raises(ActivityNotFoundError) as info:
            server.run(activities_flow(exchange, self.IDS))
        assert "Activity a3 was not found" in str(info.value)
        assert "10 days" in str(info.value)

    @pytest.mark.parametrize("status", [400, 403, 404])
    def test_an_error_on_the_list_propagates(self, exchange, status):
        server = Server(api=[api_error(status, "forbidden", "Not now")])
        with pytest.raises(ConstantContactApiError, match="Not now") as info:
            server.run(activities_flow(exchange, self.IDS))
        assert type(info.value) is ConstantContactApiError  # a 404 of the list is not about one activity
        assert info.value.status_code == status
        assert info.value.path == "/v3/activities"
        assert len(server.api_requests) == 1  # no fallback to per-id reads

    def test_an_error_on_a_later_page_propagates(self, exchange):
        server = Server(api=[page("a1", next_link="/v3/activities?next=p2"), api_error(400, "bad.cursor", "Bad")])
        with pytest.raises(ConstantContactApiError, match="Bad"):
            server.run(activities_flow(exchange, self.IDS))

    def test_list_retries_transient_failures(self, exchange):
        server = Server(api=[api_error(503, "unavailable"), page("a1", "a2", "a3")])
        assert set(server.run(activities_flow(exchange, self.IDS))) == set(self.IDS)
        assert server.urls() == [LIST_URL, LIST_URL]
        assert sum(isinstance(a, Sleep) for a in server.actions) == 1


class TestOtherActions:
    """The flow passes through whatever the exchange yields: Blocking store reads and pacing Sleeps."""

    def test_token_from_the_store_and_paced_requests(self):
        now = time.time()
        store = MemoryTokenStore(TokenRecord("stored-refresh", "stored-access", now + 3600, now, "client-id-123"))
        ticks = iter([0.0, 0.0, 0.0, 0.0, 0.0])
        limiter = RateLimiter(1, clock=lambda: next(ticks))
        server = Server(api=[json_response(200, body("a1")), json_response(200, body("a2"))], token=())
        result = server.run(activities_flow(make_exchange(store=store, api_limiter=limiter), ["a1", "a2"]))

        assert set(result) == {"a1", "a2"}
        kinds = [type(a).__name__ for a in server.actions]
        assert kinds == ["Blocking", "HttpRequest", "Sleep", "HttpRequest"]
        assert server.actions[0].func == store.peek
        assert server.actions[2].seconds == pytest.approx(limiter.window)
        assert all(r.headers["Authorization"] == "Bearer stored-access" for r in server.api_requests)

    def test_a_store_that_cannot_be_read_is_skipped(self):
        class BrokenStore(MemoryTokenStore):
            def load(self):
                raise OSError("disk gone")

        # peek() swallows store errors for long-lived tokens: the flow goes on to the token endpoint
        # (under the store's lock, so the token it gets is shared), then reads the activity
        server = Server(api=[json_response(200, body("a1"))])
        assert server.run(activities_flow(make_exchange(store=BrokenStore()), ["a1"])) == {"a1": body("a1")}
        requests = [a.url for a in server.actions if type(a).__name__ == "HttpRequest"]
        assert requests == ["http://auth.test/oauth2/default/v1/token", "http://cc.test/v3/activities/a1"]

    def test_an_exception_from_a_blocking_call_is_thrown_into_the_flow(self, exchange):
        def boom():
            raise OSError("store unreachable")

        def flow():
            yield Blocking(boom)
            return (yield from activities_flow(exchange, ["a1"]))

        with pytest.raises(OSError, match="store unreachable"):
            Server().run(flow())
