"""
Unit tests for cc_provider.hooks._oauth: sharing, storing and rotating tokens, driven by hand.

The tests play the token server and the API with scripts (tests/flow_driver.py), run the store's
blocking calls in place and advance a fake clock on every Sleep, so lock waits and pacing are exact and
instant.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from cc_provider.credential_stores import MemoryTokenStore, TokenRecord
from cc_provider.exceptions import ConstantContactAuthError, ConstantContactQuotaExceededError
from cc_provider.hooks._connection import Exchange
from cc_provider.hooks._http import ApiSettings, HttpRequest, HttpResponse, run_async
from cc_provider.hooks._retry import RateLimiter, TokenSlot
from tests import flow_driver
from tests.flow_driver import T0, FakeClock, ScriptedServer, json_response

CLIENT_ID = "client-id-123"
CLIENT_SECRET = "client-secret-DO-NOT-LEAK"
SEED = "seed-refresh-token-DO-NOT-LEAK"


def settings(refresh_mode: str = "rotating", refresh_token: str | None = SEED) -> ApiSettings:
    return ApiSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=refresh_token,
        api_base_url="http://cc.test/v3",
        auth_base_url="http://auth.test/oauth2/default/v1",
        conn_id="cc_test",
        refresh_mode=refresh_mode,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def granted(access: str, refresh: str | None = None, expires_in: int = 3600) -> HttpResponse:
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh is not None:
        body["refresh_token"] = refresh
    return json_response(200, body)


INVALID_GRANT = json_response(400, {"error": "invalid_grant", "error_description": "The refresh token is invalid."})
OK = json_response(200, {"lists": []})


def make(
    clock: FakeClock, store=None, refresh_mode: str = "rotating", slot=None, refresh_token: str | None = SEED, **kwargs
) -> Exchange:
    return flow_driver.make_exchange(
        settings(refresh_mode, refresh_token), clock=clock, store=store, slot=slot, **kwargs
    )


def get(ex: Exchange) -> HttpRequest:
    return ex.request("GET", "/contact_lists")


def record(refresh: str, access: str | None = None, expires_in: float = 3600, client_id: str = CLIENT_ID):
    return TokenRecord(refresh, access, T0 + expires_in if access else 0.0, T0, client_id)


class TestRotation:
    def test_empty_store_is_seeded_and_the_rotated_token_saved_before_use(self, clock):
        store = MemoryTokenStore()
        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[granted("at-1", "rt-1")], api=[OK])
        assert server.run(ex.call(get(ex))).ok
        assert server.kinds() == ["load", "try_lock", "load", "token", "save", "release", "api"]
        assert server.sent_refresh_tokens == [SEED]
        assert store.record == TokenRecord("rt-1", "at-1", T0 + 3600, T0, CLIENT_ID)
        assert server.api_requests[0].headers["Authorization"] == "Bearer at-1"
        assert ex.tokens.refresh_count == 1

    def test_a_fresh_stored_access_token_is_used_without_refreshing(self, clock):
        store = MemoryTokenStore(record("rt-7", "at-7"))
        ex = make(clock, store)
        server = ScriptedServer(clock=clock, api=[OK, OK])
        server.run(ex.call(get(ex)))
        server.run(ex.call(get(ex)))
        assert server.kinds() == ["load", "api", "api"]  # the second call uses the process's slot
        assert ex.tokens.refresh_count == 0 and store.saves == 0

    def test_a_stored_token_inside_the_lead_is_refreshed_with_the_stored_refresh_token(self, clock):
        store = MemoryTokenStore(record("rt-7", "at-7", expires_in=3600))
        clock.now = T0 + 3600 - 299  # inside the 300 s lead
        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[granted("at-8", "rt-8")], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.sent_refresh_tokens == ["rt-7"]
        assert store.record.refresh_token == "rt-8"

    def test_hooks_of_one_process_share_the_slot(self, clock):
        store, slot = MemoryTokenStore(), TokenSlot()
        first, second = make(clock, store, slot=slot), make(clock, store, slot=slot)
        server = ScriptedServer(clock=clock, token=[granted("at-1", "rt-1")], api=[OK, OK])
        server.run(first.call(get(first)))
        before = len(server.actions)
        server.run(second.call(get(second)))
        assert server.kinds()[before:] == ["api"]
        assert second.tokens.slot.token.value == "at-1"

    def test_a_busy_slot_is_waited_for_with_sleeps(self, clock):
        slot = TokenSlot()
        assert slot.try_acquire()
        ex = make(clock, MemoryTokenStore(record("rt", "at")), slot=slot)
        server = ScriptedServer(clock=clock, on_sleep=slot.release)
        assert server.run(ex.tokens.access_token()).value == "at"
        assert server.kinds() == ["sleep", "load"]  # busy: the flow slept instead of blocking

    def test_the_refresh_waits_for_another_process_and_uses_its_token(self, clock):
        store = MemoryTokenStore(record("rt-1", "old", expires_in=-10))
        other = store.try_lock()  # another process is refreshing
        ex = make(clock, store)

        def other_process_finishes():
            store.record = record("rt-2", "at-2")  # it saved its tokens
            other.release()

        server = ScriptedServer(clock=clock, on_sleep=other_process_finishes)
        token = server.run(ex.tokens.access_token())
        assert server.kinds()[:4] == ["load", "try_lock", "load", "sleep"]
        assert token.value == "at-2"
        assert not server.token_requests
        assert store.saves == 0

    def test_lock_timeout_is_an_auth_error(self, clock):
        store = MemoryTokenStore(record("rt-1"))
        assert store.try_lock() is not None
        ex = make(clock, store)
        ex.tokens.lock_timeout = 1.0
        with pytest.raises(ConstantContactAuthError, match="Waited 1 s for another process"):
            ScriptedServer(clock=clock).run(ex.tokens.access_token())

    def test_invalid_grant_rereads_the_store_and_uses_the_newer_token(self, clock):
        store = MemoryTokenStore(record("rt-1"))

        def rotated_elsewhere(_request):
            store.record = record("rt-2", "at-2")  # another worker won the race and saved
            return INVALID_GRANT

        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[rotated_elsewhere], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.sent_refresh_tokens == ["rt-1"]
        assert server.api_requests[0].headers["Authorization"] == "Bearer at-2"
        assert store.saves == 0

    def test_invalid_grant_retries_with_a_newer_refresh_token(self, clock):
        store = MemoryTokenStore(record("rt-1"))

        def rotated_elsewhere(_request):
            store.record = record("rt-2")  # a newer refresh token, no usable access token
            return INVALID_GRANT

        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[rotated_elsewhere, granted("at-3", "rt-3")], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.sent_refresh_tokens == ["rt-1", "rt-2"]
        assert store.record.refresh_token == "rt-3"

    def test_invalid_grant_falls_back_to_the_connections_own_token(self, clock):
        # a person put a new refresh token in the connection; the store still holds a dead one
        store = MemoryTokenStore(record("dead"))
        ex = make(clock, store, refresh_token="pasted-by-a-person")
        server = ScriptedServer(clock=clock, token=[INVALID_GRANT, granted("at", "rt-next")], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.sent_refresh_tokens == ["dead", "pasted-by-a-person"]
        assert store.record.refresh_token == "rt-next"

    def test_a_lost_rotation_says_how_to_reauthorize(self, clock):
        store = MemoryTokenStore(record("rt-lost"))
        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[INVALID_GRANT, INVALID_GRANT])
        with pytest.raises(ConstantContactAuthError) as info:
            server.run(ex.call(get(ex)))
        text = str(info.value)
        assert "cc_test" in text and "lost" in text
        assert "python -m cc_provider.auth login --conn-id cc_test" in text
        assert server.sent_refresh_tokens == ["rt-lost", SEED]
        for secret in ("rt-lost", SEED, CLIENT_SECRET):
            assert secret not in text
        assert store.try_lock() is not None  # the lock was released

    def test_401_with_the_stored_token_forces_a_refresh(self, clock):
        store = MemoryTokenStore(record("rt-1", "at-revoked"))
        ex = make(clock, store)
        unauthorized = json_response(401, {"error_key": "unauthorized", "error_message": "Unauthorized"})
        server = ScriptedServer(clock=clock, token=[granted("at-2", "rt-2")], api=[unauthorized, OK])
        assert server.run(ex.call(get(ex))).ok
        assert [r.headers["Authorization"] for r in server.api_requests] == ["Bearer at-revoked", "Bearer at-2"]
        assert store.record.refresh_token == "rt-2"

    def test_a_changed_store_is_not_overwritten(self, clock, caplog):
        store = MemoryTokenStore(record("rt-1"))

        def login_meanwhile(_request):
            store.record = record("from-login", "at-login")
            return granted("at-mine", "rt-mine")

        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[login_meanwhile], api=[OK])
        with caplog.at_level(logging.WARNING):
            server.run(ex.call(get(ex)))
        assert store.record.refresh_token == "from-login"
        assert "changed while this process was refreshing" in caplog.text

    def test_a_response_without_refresh_token_keeps_the_old_one(self, clock, caplog):
        store = MemoryTokenStore(record("rt-1"))
        ex = make(clock, store)
        with caplog.at_level(logging.WARNING):
            ScriptedServer(clock=clock, token=[granted("at")], api=[OK]).run(ex.call(get(ex)))
        assert store.record == TokenRecord("rt-1", "at", T0 + 3600, T0, CLIENT_ID)
        assert "offline_access" in caplog.text

    def test_a_record_of_another_app_is_ignored(self, clock):
        store = MemoryTokenStore(record("theirs", "their-at", client_id="another-app"))
        ex = make(clock, store)
        server = ScriptedServer(clock=clock, token=[granted("at", "rt-1")], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.sent_refresh_tokens == [SEED]
        assert store.record.client_id == CLIENT_ID

    def test_other_token_errors_release_the_lock(self, clock):
        store = MemoryTokenStore(record("rt-1"))
        ex = make(clock, store)
        bad_client = json_response(401, {"error": "invalid_client", "error_description": "bad"})
        with pytest.raises(ConstantContactAuthError, match="client credentials"):
            ScriptedServer(clock=clock, token=[bad_client]).run(ex.tokens.access_token())
        assert store.try_lock() is not None

    def test_a_store_error_propagates_and_nothing_is_refreshed(self, clock):
        class Broken(MemoryTokenStore):
            def load(self):
                raise OSError("disk gone")

        server = ScriptedServer(clock=clock)
        with pytest.raises(OSError, match="disk gone"):
            server.run(make(clock, Broken()).tokens.access_token())
        assert not server.token_requests

    def test_no_refresh_token_anywhere(self, clock):
        with pytest.raises(ConstantContactAuthError, match="has no refresh token"):
            ScriptedServer(clock=clock).run(make(clock, MemoryTokenStore(), refresh_token=None).tokens.access_token())

    def test_refresh_now_uses_the_refresh_token_even_with_a_fresh_access_token(self, clock):
        store, slot = MemoryTokenStore(record("rt-1", "at-1")), TokenSlot()
        ex = make(clock, store, slot=slot)
        server = ScriptedServer(clock=clock, token=[granted("at-2", "rt-2")], api=[OK])
        server.run(ex.call(get(ex)))  # uses the stored token
        assert server.run(ex.tokens.access_token(force=True)).value == "at-2"  # a keep-alive
        assert server.sent_refresh_tokens == ["rt-1"]
        assert store.record.refresh_token == "rt-2" and slot.token.value == "at-2"

    def test_rotating_needs_a_store(self):
        with pytest.raises(ValueError, match="token store"):
            make(FakeClock(), None)


class TestLongLived:
    def test_one_refresh_is_shared_through_the_store_under_its_lock(self, clock):
        store = MemoryTokenStore()
        ex = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, token=[granted("at-1", SEED)], api=[OK])
        server.run(ex.call(get(ex)))
        assert server.kinds() == ["peek", "try_lock", "peek", "token", "save", "release", "api"]
        assert store.record == TokenRecord(SEED, "at-1", T0 + 3600, T0, CLIENT_ID)
        assert store.try_lock() is not None  # released

        # another worker (its own process: its own slot) uses the shared token: no token request
        other = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, api=[OK])
        server.run(other.call(get(other)))
        assert server.kinds() == ["peek", "api"]
        assert other.tokens.slot.token.value == "at-1" and other.tokens.refresh_count == 0

    def test_near_expiry_one_worker_refreshes_with_the_same_refresh_token(self, clock):
        store = MemoryTokenStore(record(SEED, "at-1", expires_in=3600))
        clock.now = T0 + 3600 - 299  # inside the 300 s lead
        ex = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, token=[granted("at-2", SEED)])
        assert server.run(ex.tokens.access_token()).value == "at-2"
        assert server.sent_refresh_tokens == [SEED]
        assert store.record.access_token == "at-2" and store.record.refresh_token == SEED

    def test_a_refresh_under_way_elsewhere_is_waited_for_and_its_token_used(self, clock):
        store = MemoryTokenStore()
        other = store.try_lock()  # another process is refreshing
        ex = make(clock, store, refresh_mode="long_lived")

        def other_process_finishes():
            store.record = record(SEED, "at-other")  # it saved its token
            other.release()

        server = ScriptedServer(clock=clock, on_sleep=other_process_finishes)
        assert server.run(ex.tokens.access_token()).value == "at-other"
        assert "sleep" in server.kinds()
        assert not server.token_requests and store.saves == 0

    def test_a_lock_never_released_costs_a_wait_then_an_unshared_refresh(self, clock, caplog):
        store = MemoryTokenStore()
        assert store.try_lock() is not None  # a holder that died (its lease has not lapsed yet)
        ex = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, token=[granted("at", SEED)])
        with caplog.at_level(logging.WARNING):
            assert server.run(ex.tokens.access_token()).value == "at"
        assert sum(server.sleeps) == pytest.approx(ex.tokens.share_wait_seconds, abs=1.0)
        assert "refreshing without sharing the access token" in caplog.text
        assert store.saves == 0

    def test_a_store_that_cannot_be_locked_or_written_is_not_a_dependency(self, clock, caplog):
        class NoLock(MemoryTokenStore):
            def try_lock(self):
                raise OSError("read-only file system")

        class NoWrite(MemoryTokenStore):
            def save(self, record, expected_refresh_token):
                raise OSError("disk full")

        with caplog.at_level(logging.WARNING):
            for store in (NoLock(), NoWrite()):
                ex = make(clock, store, refresh_mode="long_lived")
                server = ScriptedServer(clock=clock, token=[granted("at", SEED)], api=[OK])
                assert server.run(ex.call(get(ex))).ok
                assert store.record is None
        assert "Could not lock in memory (read-only file system)" in caplog.text
        assert "Could not save the Constant Contact tokens to in memory: disk full" in caplog.text

    def test_a_store_unavailable_here_is_neither_locked_nor_written(self, clock):
        class Elsewhere(MemoryTokenStore):
            def available(self):
                return False

        store = Elsewhere(record("from-login", "at-login"))
        ex = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, token=[granted("at", SEED)])
        assert server.run(ex.tokens.access_token()).value == "at"
        assert server.kinds() == ["peek", "token"]  # peek answers None: the store is not read, locked or written
        assert server.sent_refresh_tokens == [SEED] and store.saves == 0

    def test_a_refresh_token_saved_by_a_login_is_preferred(self, clock):
        store = MemoryTokenStore(record("from-login"))
        ex = make(clock, store, refresh_mode="long_lived")
        server = ScriptedServer(clock=clock, token=[INVALID_GRANT, granted("at")])
        # the stored token is refused: the connection's own one is tried next, and shared
        assert server.run(ex.tokens.access_token()).value == "at"
        assert server.sent_refresh_tokens == ["from-login", SEED]
        assert store.record.refresh_token == SEED and store.record.access_token == "at"

    def test_a_login_meanwhile_is_not_overwritten(self, clock, caplog):
        store = MemoryTokenStore()
        ex = make(clock, store, refresh_mode="long_lived")

        def login_meanwhile(_request):
            store.record = record("from-login", "at-login")
            return granted("at", SEED)

        with caplog.at_level(logging.WARNING):
            assert ScriptedServer(clock=clock, token=[login_meanwhile]).run(ex.tokens.access_token()).value == "at"
        assert store.record.refresh_token == "from-login"
        assert "changed while this process was refreshing" in caplog.text

    def test_refused_everywhere_says_how_to_reauthorize(self, clock):
        store = MemoryTokenStore()
        ex = make(clock, store, refresh_mode="long_lived")
        with pytest.raises(ConstantContactAuthError, match="Authorize the app again"):
            ScriptedServer(clock=clock, token=[INVALID_GRANT]).run(ex.tokens.access_token())
        assert store.try_lock() is not None  # the lock was released

    def test_an_unexpected_rotation_is_saved_rather_than_lost(self, clock, caplog):
        store = MemoryTokenStore()
        ex = make(clock, store, refresh_mode="long_lived")
        with caplog.at_level(logging.WARNING):
            ScriptedServer(clock=clock, token=[granted("at", "rotated")]).run(ex.tokens.access_token())
        assert store.record.refresh_token == "rotated" and store.saves == 1
        assert "refresh_mode to 'rotating'" in caplog.text
        assert store.try_lock() is not None
        # the process goes on with the new token too
        clock.now += 4000
        server = ScriptedServer(clock=clock, token=[granted("at-2", "rotated")])
        server.run(ex.tokens.access_token())
        assert server.sent_refresh_tokens == ["rotated"]

    def test_an_unexpected_rotation_is_saved_even_when_the_lock_wait_ran_out(self, clock):
        store = MemoryTokenStore()
        other = store.try_lock()
        ex = make(clock, store, refresh_mode="long_lived")
        ex.tokens.share_wait_seconds = 1.0

        def holder_gone(_request):
            other.release()
            return granted("at", "rotated")

        ScriptedServer(clock=clock, token=[holder_gone]).run(ex.tokens.access_token())
        assert store.record.refresh_token == "rotated"

    def test_works_without_a_store(self, clock):
        ex = make(clock, None, refresh_mode="long_lived")
        assert ScriptedServer(clock=clock, token=[granted("at")]).run(ex.tokens.access_token()).value == "at"


class TestPacing:
    def test_token_requests_are_one_a_second(self, clock):
        limiter = RateLimiter(1, clock=clock)
        ex = make(clock, MemoryTokenStore(), refresh_mode="long_lived", limiter=limiter)
        server = ScriptedServer(clock=clock, token=[INVALID_GRANT, granted("at")])
        ex.tokens.slot.refresh_token = "stale"  # two candidates: two token requests in a row
        server.run(ex.tokens.access_token())
        assert [k for k in server.kinds() if k in ("token", "sleep")] == ["token", "sleep", "token"]
        assert server.sleeps == [pytest.approx(1.02)]

    def test_api_requests_are_paced_by_the_limiter(self, clock):
        limiter = RateLimiter(4, clock=clock)
        ex = make(clock, MemoryTokenStore(record("rt", "at")), api_limiter=limiter)
        server = ScriptedServer(clock=clock, api=[OK] * 6)
        for _ in range(6):
            server.run(ex.call(get(ex)))
        assert server.kinds().count("sleep") == 1  # 4 at once, then the 5th waits for the window; the 6th too
        assert server.sleeps == [pytest.approx(1.02)]

    def test_quota_exceeded_fails_fast_with_the_reset_time(self, clock):
        ex = make(clock, MemoryTokenStore(record("rt", "at")))
        quota = json_response(429, {"error_key": "quota_exceeded", "error_message": "Limit Exceeded"})
        with pytest.raises(ConstantContactQuotaExceededError, match="daily quota exhausted; it resets at 00:00 UTC"):
            ScriptedServer(clock=clock, api=[quota]).run(ex.call(get(ex)))


class TestAsyncDriver:
    def test_blocking_calls_run_off_the_event_loop(self, clock):
        seen: list[int] = []

        class Recording(MemoryTokenStore):
            def load(self):
                seen.append(threading.get_ident())
                return super().load()

        store = Recording(TokenRecord("rt", "at", 4_000_000_000.0, 1_000_000_000.0, CLIENT_ID))
        ex = make(clock, store)

        async def main():
            loop_thread = threading.get_ident()
            token = await run_async(ex.tokens.access_token(), client=None, timeout=1.0)
            return loop_thread, token

        loop_thread, token = asyncio.run(main())
        assert token.value == "at"
        assert seen and all(ident != loop_thread for ident in seen)

    def test_a_blocking_error_is_thrown_into_the_flow(self, clock):
        class Broken(MemoryTokenStore):
            def load(self):
                raise OSError("no disk")

        with pytest.raises(OSError, match="no disk"):
            asyncio.run(run_async(make(clock, Broken()).tokens.access_token(), client=None, timeout=1.0))
