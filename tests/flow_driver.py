"""
The one hand driver of the hook's flows in tests: a scripted server and a fake clock.

A test plays the server: :class:`ScriptedServer` drives a flow as ``run_sync`` does, minus the sockets
and the sleeping. It answers every ``HttpRequest`` from a script (one for the token endpoint, one for
the API), runs ``Blocking`` calls in place (an exception is thrown into the flow, as the drivers do),
advances its :class:`FakeClock` on every ``Sleep``, and records every action the flow yielded.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from cc_provider.hooks._connection import Exchange
from cc_provider.hooks._http import ApiSettings, Blocking, Flow, HttpRequest, HttpResponse, Sleep, TransportFailure
from cc_provider.hooks._oauth import TokenKeeper
from cc_provider.hooks._retry import RetryPolicy

TOKEN_URL = "http://auth.test/oauth2/default/v1/token"
T0 = 1_800_000_000.0

Answer = HttpResponse | TransportFailure | Callable[[HttpRequest], HttpResponse | TransportFailure]


class FakeClock:
    """A clock that moves only when told (or when the server performs a ``Sleep``); call it for the time."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedServer:
    """
    Answer a flow's actions from scripts; an answer may be a callable taking the request.

    :param token: the token endpoint's answers, in order.
    :param api: the API's answers, in order.
    :param clock: the clock every ``Sleep`` advances (a private one by default).
    :param on_sleep: called at every ``Sleep``: what other processes do while the flow waits.
    """

    def __init__(
        self,
        token: Iterable[Answer] = (),
        api: Iterable[Answer] = (),
        *,
        clock: FakeClock | None = None,
        on_sleep: Callable[[], None] | None = None,
    ) -> None:
        self.token_script = deque(token)
        self.api_script = deque(api)
        self.clock = clock or FakeClock()
        self.on_sleep = on_sleep
        self.actions: list[Any] = []

    def answer(self, request: HttpRequest) -> HttpResponse | TransportFailure:
        script = self.token_script if request.url == TOKEN_URL else self.api_script
        assert script, f"unexpected request {request!r}"
        answer = script.popleft()
        return answer(request) if callable(answer) else answer

    def run(self, flow: Flow[Any]) -> Any:
        """Drive ``flow`` to its end and return its result (or raise what it raised)."""
        try:
            action = next(flow)
            while True:
                self.actions.append(action)
                outcome: Any = None
                if isinstance(action, Sleep):
                    self.clock.now += action.seconds
                    if self.on_sleep is not None:
                        self.on_sleep()
                elif isinstance(action, Blocking):
                    try:
                        outcome = action.func(*action.args)
                    except Exception as exc:
                        action = flow.throw(exc)
                        continue
                elif isinstance(action, HttpRequest):
                    outcome = self.answer(action)
                else:  # pragma: no cover - a new action type must be handled here
                    raise AssertionError(f"unknown action {action!r}")
                action = flow.send(outcome)
        except StopIteration as done:
            return done.value
        finally:
            flow.close()

    def done(self) -> bool:
        """Tell whether every scripted answer was used."""
        return not self.token_script and not self.api_script

    @property
    def token_requests(self) -> list[HttpRequest]:
        return [a for a in self.actions if isinstance(a, HttpRequest) and a.url == TOKEN_URL]

    @property
    def api_requests(self) -> list[HttpRequest]:
        return [a for a in self.actions if isinstance(a, HttpRequest) and a.url != TOKEN_URL]

    @property
    def sent_refresh_tokens(self) -> list[str]:
        return [r.form["refresh_token"] for r in self.token_requests if r.form]

    @property
    def sleeps(self) -> list[float]:
        return [a.seconds for a in self.actions if isinstance(a, Sleep)]

    def urls(self) -> list[str]:
        return [r.url for r in self.api_requests]

    def kinds(self) -> list[str]:
        """One word per action: ``sleep``, ``token``, ``api``, or the name of the blocking call."""

        def kind(action: Any) -> str:
            if isinstance(action, Sleep):
                return "sleep"
            if isinstance(action, Blocking):
                return str(action.func.__name__)
            return "token" if action.url == TOKEN_URL else "api"

        return [kind(a) for a in self.actions]


def make_exchange(
    settings: ApiSettings,
    *,
    clock: Callable[[], float] | None = None,
    policy: RetryPolicy | None = None,
    api_limiter: Any = None,
    **keeper: Any,
) -> Exchange:
    """An exchange on ``settings`` with its own token keeper (``keeper``: TokenKeeper's keyword arguments)."""
    policy = policy or RetryPolicy(max_retries=2, backoff_base=0.01)
    tokens = TokenKeeper(settings, policy, clock=clock or time.time, **keeper)
    return Exchange(settings, tokens, policy, api_limiter=api_limiter)


def json_response(status: int, body: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
    """An answer with a JSON body (none for ``None``)."""
    content = b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, {"Content-Type": "application/json", **(headers or {})}, content)
