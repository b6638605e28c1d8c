"""Unit tests for cc_provider.hooks._retry's budget: the sliding-window limiter, the registries, token slots."""

from __future__ import annotations

import threading

import pytest

from cc_provider.hooks._http import AccessToken, Sleep
from cc_provider.hooks._retry import (
    RateLimiter,
    TokenSlot,
    api_limiter,
    pace,
    reset_process_state,
    shared_slot,
    token_limiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clean_registry():
    reset_process_state()
    yield
    reset_process_state()


class TestRateLimiter:
    def test_a_burst_of_limit_then_one_window_later(self):
        clock = FakeClock()
        limiter = RateLimiter(4, clock=clock)
        assert [limiter.reserve() for _ in range(4)] == [0, 0, 0, 0]
        assert limiter.reserve() == pytest.approx(1.02)
        assert limiter.reserve() == pytest.approx(1.02)

    def test_slots_free_up_as_the_window_slides(self):
        clock = FakeClock()
        limiter = RateLimiter(2, margin=0.0, clock=clock)
        assert limiter.reserve() == 0
        clock.now += 0.6
        assert limiter.reserve() == 0
        assert limiter.reserve() == pytest.approx(0.4)  # the first one leaves the window at +1.0
        clock.now += 0.4
        assert limiter.reserve() == pytest.approx(0.6)

    def test_one_a_second(self):
        clock = FakeClock()
        limiter = RateLimiter(1, margin=0.0, clock=clock)
        waits = []
        for _ in range(4):
            wait = limiter.reserve()
            waits.append(wait)
            clock.now += wait
        assert waits == [0, 1.0, 1.0, 1.0]

    def test_no_window_ever_holds_more_than_the_limit_under_threads(self):
        clock = FakeClock()
        limiter = RateLimiter(4, margin=0.0, clock=clock)
        booked: list[float] = []
        lock = threading.Lock()

        def worker():
            for _ in range(25):
                at = clock.now + limiter.reserve()
                with lock:
                    booked.append(at)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        booked.sort()
        assert len(booked) == 200
        assert all(booked[i + 4] - booked[i] >= 1.0 - 1e-9 for i in range(len(booked) - 4))
        assert booked[-1] - booked[0] == pytest.approx(49.0)

    def test_limit_must_be_positive(self):
        with pytest.raises(ValueError):
            RateLimiter(0)


class TestPace:
    def test_no_action_when_free_and_a_sleep_when_not(self):
        clock = FakeClock()
        limiter = RateLimiter(1, clock=clock)
        assert list(pace(limiter)) == []
        assert list(pace(limiter)) == [Sleep(pytest.approx(1.02))]
        assert list(pace(None)) == []


class TestRegistry:
    def test_one_limiter_per_client_id(self):
        assert api_limiter("a") is api_limiter("a")
        assert api_limiter("a") is not api_limiter("b")
        assert api_limiter("a").limit == 4
        assert token_limiter("a") is token_limiter("a")
        assert token_limiter("a").limit == 1

    def test_partner_keys_and_no_pacing(self):
        assert api_limiter("p", 10).limit == 10
        assert api_limiter("off", 0) is None
        slow = api_limiter("slow", 0.5)
        assert (slow.limit, slow.period) == (1, 2.0)

    def test_reset_forgets_everything(self):
        limiter, slot = api_limiter("a"), shared_slot("k")
        reset_process_state()
        assert api_limiter("a") is not limiter and shared_slot("k") is not slot

    def test_a_forked_child_starts_clean(self):
        import multiprocessing
        import os
        import warnings

        slot = shared_slot("k")
        slot.try_acquire()  # held by this process at fork time

        def child():
            os._exit(0 if shared_slot("k").try_acquire() else 1)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            process = multiprocessing.get_context("fork").Process(target=child)
            process.start()
        process.join(10)
        slot.release()
        assert process.exitcode == 0


class TestTokenSlot:
    def test_usable_respects_the_lead_capped_at_half_the_lifetime_and_rejections(self):
        slot = TokenSlot()
        assert slot.usable(300, now=1000.0) is None
        slot.hold(AccessToken("v", expires_at=1100.0), obtained_at=1000.0, refresh_token="r")
        assert slot.usable(300, now=1049.0).value == "v"  # lead capped at 50 s
        assert slot.usable(300, now=1000.0, rejected="v") is None
        assert slot.usable(300, now=1050.0) is None
        slot.forget("other")
        assert slot.token is not None
        slot.forget("v")
        assert slot.token is None

    def test_try_acquire_is_non_blocking(self):
        slot = TokenSlot()
        assert slot.try_acquire() is True
        assert slot.try_acquire() is False
        slot.release()
        assert slot.try_acquire() is True
