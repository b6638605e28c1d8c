"""
Access tokens for one connection, as flows: in-process slot, shared token store, token endpoint.

The order of business when a flow needs a token:

1. The process's :class:`~cc_provider.hooks.budget.TokenSlot`: one access token for every hook of the
   process (the triggerer runs many triggers); a non-blocking mutex lets one flow at a time go further.
2. The token store: a fresh access token saved by another worker is used as is.
3. ``long_lived`` tokens: take the store's refresh lock if it can be had (waiting a little for another
   process's refresh, then using its token), re-read the store, refresh with the best refresh token known
   (slot, store, connection) and save the new access token for every other worker, release. The store is
   a convenience here, never a dependency: when it cannot be read, locked or written, the process
   refreshes on its own and carries on. If the server turns out to rotate tokens after all, the new
   refresh token is saved (a warning says to set ``refresh_mode`` to ``rotating``), because dropping it
   would lock the app out.
4. ``rotating`` tokens: take the store's refresh lock, re-read the store (someone may have refreshed
   meanwhile), refresh, **save the new refresh token before the access token is used**, release. On
   ``invalid_grant``, re-read the store (waiting a little for a racing writer on a best-effort store)
   and retry with a newer token, then with the connection's own token; only then fail with a
   :class:`ConstantContactAuthError` that says how to re-authorize.

Every token request is paced by the process's token-endpoint limiter (1 a second).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, TypeVar

from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks.budget import RateLimiter, TokenSlot, pace
from cc_provider.hooks.flows import Flow, retry_or_raise
from cc_provider.hooks.oauth import AccessToken, parse_token_response, refresh_request, token_error
from cc_provider.hooks.retry import RetryPolicy, is_retryable
from cc_provider.hooks.token_store import StoreLock, TokenRecord, TokenStore
from cc_provider.hooks.wire import Blocking, HttpResponse, Sleep, parse_error_body

if TYPE_CHECKING:
    from cc_provider.hooks.exchange import ApiSettings

TOKEN_TYPES = ("long_lived", "rotating")

#: Seconds between looks at a busy in-process slot.
SLOT_POLL_SECONDS = 0.05

#: ``rejected`` value that refuses every access token: refresh now.
FORCE = "\0refresh now"

R = TypeVar("R")


def reauthorize_hint(conn_id: str) -> str:
    """What a person must do when no refresh token works any more."""
    conn = f" --conn-id {conn_id}" if conn_id else ""
    return (
        "Authorize the app again (a person must consent in a browser, with the offline_access scope): "
        f"run `python -m cc_provider.auth login{conn}` (or `device`), which saves the new refresh token "
        "to the token store, or put it in the connection's 'refresh_token' extra."
    )


class TokenKeeper:
    """
    Obtain, share and rotate the access tokens of one connection.

    :param settings: the connection's credentials and token settings.
    :param retry_policy: back-off for transient token-endpoint failures.
    :param store: the shared token store (``None``: this process only; ``long_lived`` tokens only).
    :param slot: the in-process token slot (shared by the hooks of a process; a private one by default).
    :param limiter: pacing of token-endpoint requests (``None``: unpaced).
    :param refresh_lead_seconds: refresh this long before expiry (capped at half the token's lifetime).
    :param lock_timeout: seconds to wait for another process's refresh before giving up (rotating tokens).
    :param share_wait_seconds: ``long_lived`` tokens: seconds to wait for another process's refresh
        before refreshing without the lock (and without sharing the result).
    """

    def __init__(
        self,
        settings: ApiSettings,
        retry_policy: RetryPolicy,
        *,
        store: TokenStore | None = None,
        slot: TokenSlot | None = None,
        limiter: RateLimiter | None = None,
        refresh_lead_seconds: float = 300.0,
        lock_timeout: float = 120.0,
        share_wait_seconds: float = 15.0,
        log: logging.Logger | None = None,
    ) -> None:
        if settings.token_type not in TOKEN_TYPES:
            raise ValueError(f"refresh_mode must be one of {', '.join(TOKEN_TYPES)}, not {settings.token_type!r}.")
        if settings.token_type == "rotating" and store is None:
            raise ValueError("Rotating refresh tokens need a token store shared by every worker.")
        self.settings = settings
        self.retry_policy = retry_policy
        self.store = store
        self.slot = slot or TokenSlot()
        self.limiter = limiter
        self.refresh_lead_seconds = refresh_lead_seconds
        self.lock_timeout = lock_timeout
        self.share_wait_seconds = share_wait_seconds
        self.log = log or logging.getLogger(__name__)
        self.refresh_count = 0

    @property
    def rotating(self) -> bool:
        return self.settings.token_type == "rotating"

    # -- entry point ----------------------------------------------------------------------------------

    def access_token(self, rejected: str | None = None, *, force: bool = False) -> Flow[AccessToken]:
        """
        Return a valid access token; ``rejected`` is one the API just refused with 401 (never returned).

        ``force`` uses the refresh token whatever the access token's age: a keep-alive against the
        180-day expiry of unused refresh tokens.
        """
        slot = self.slot
        if force:
            rejected = FORCE
        if rejected is not None:
            slot.forget(None if force else rejected)
        while True:
            token = None if force else slot.usable(self.refresh_lead_seconds, rejected)
            if token is not None:
                return token
            if slot.try_acquire():
                break
            yield Sleep(SLOT_POLL_SECONDS)
        try:
            # the slot may have been filled while we waited for the mutex
            token = None if force else slot.usable(self.refresh_lead_seconds, rejected)
            if token is None:
                token = yield from self._obtain(rejected)
        finally:
            slot.release()
        return token

    # -- the store ------------------------------------------------------------------------------------

    def _load(self) -> Flow[tuple[TokenRecord | None, str | None]]:
        """Return ``(record usable by this app or None, stored refresh token for compare-and-swap)``."""
        if self.store is None:
            return None, None
        record: TokenRecord | None = yield Blocking(self.store.load if self.rotating else self.store.peek)
        if record is None:
            return None, None
        _mask(record.refresh_token, record.access_token)
        if record.client_id and record.client_id != self.settings.client_id:
            self.log.warning(
                "The token store %s holds tokens of another client ID; ignoring them.", self.store.description
            )
            return None, record.refresh_token
        return record, record.refresh_token

    def _fresh(self, record: TokenRecord | None, rejected: str | None) -> bool:
        if record is None or not record.access_token or rejected in (record.access_token, FORCE):
            return False
        lead = min(self.refresh_lead_seconds, max(0.0, record.expires_at - record.obtained_at) / 2)
        return time.time() + lead < record.expires_at

    def _adopt(self, record: TokenRecord) -> AccessToken:
        assert record.access_token is not None
        token = AccessToken(record.access_token, record.expires_at)
        self.slot.hold(token, record.obtained_at, record.refresh_token)
        self.log.info("Using the Constant Contact access token shared through %s.", self._where())
        return token

    def _where(self) -> str:
        return self.store.description if self.store is not None else "this process"

    # -- obtaining ------------------------------------------------------------------------------------

    def _obtain(self, rejected: str | None) -> Flow[AccessToken]:
        record, base = yield from self._load()
        if self._fresh(record, rejected):
            assert record is not None
            return self._adopt(record)
        if not self.rotating:
            return (yield from self._long_lived(record, base, rejected))
        assert self.store is not None
        held = yield from self._lock(rejected, self.lock_timeout)
        if isinstance(held, AccessToken):
            return held
        if held is None:
            raise ConstantContactAuthError(
                f"Waited {self.lock_timeout:.0f} s for another process to refresh the Constant Contact "
                f"token ({self.store.description}) without getting a new token. Retry the task; if this "
                "repeats, look for a stuck process holding the lock."
            )
        return (yield from _holding(held, self._rotate(rejected)))

    def _lock(self, rejected: str | None, timeout: float) -> Flow[StoreLock | AccessToken | None]:
        """
        Take the store's refresh lock, or return the token another process saved while we waited;
        ``None`` when neither happened within ``timeout`` seconds.
        """
        assert self.store is not None
        deadline = time.time() + timeout
        waited = False
        while True:
            held: StoreLock | None = yield Blocking(self.store.try_lock)
            if held is not None:
                return held
            if not waited:
                self.log.info("Another process is refreshing the Constant Contact token; waiting for it.")
                waited = True
            record, _ = yield from self._load()
            if self._fresh(record, rejected):
                assert record is not None
                return self._adopt(record)
            if time.time() >= deadline:
                return None
            yield Sleep(self.store.poll_seconds)

    def _rotate(self, rejected: str | None) -> Flow[AccessToken]:
        """Refresh under the lock; save the rotated refresh token before returning the access token."""
        assert self.store is not None
        record, base = yield from self._load()  # re-read under the lock
        if self._fresh(record, rejected):
            assert record is not None
            return self._adopt(record)
        refresh_token = record.refresh_token if record is not None else self.settings.refresh_token
        if not refresh_token:
            raise self._no_refresh_token()
        tried: list[str] = []
        while True:
            outcome, obtained_at = yield from self._token_request(refresh_token)
            if outcome.ok:
                token = parse_token_response(outcome)
                new_refresh = token.refresh_token or refresh_token
                if not token.refresh_token:
                    self.log.warning(
                        "The token response carried no refresh token: the authorization lacks the "
                        "offline_access scope. Keeping the previous refresh token."
                    )
                _mask(new_refresh, token.value)
                new_record = TokenRecord(
                    new_refresh, token.value, token.expires_at, obtained_at, self.settings.client_id
                )
                saved = yield Blocking(self.store.save, (new_record, base))
                if saved:
                    self.log.info("Saved the rotated Constant Contact refresh token to %s.", self.store.description)
                else:
                    self.log.warning(
                        "The tokens in %s changed while this process was refreshing (a login?); "
                        "keeping the stored ones and using this process's access token once.",
                        self.store.description,
                    )
                return self._obtained(token, obtained_at, new_refresh)
            key, _ = parse_error_body(outcome)
            if key != "invalid_grant":
                raise token_error(outcome)
            tried.append(refresh_token)
            self.log.warning(
                "Constant Contact refused a refresh token (invalid_grant); looking for a newer one in %s.",
                self.store.description,
            )
            found = yield from self._newer(tried, rejected)
            if isinstance(found, AccessToken):
                return found
            if found is None:
                raise self._lost_rotation(outcome)
            refresh_token, base = found

    def _newer(self, tried: list[str], rejected: str | None) -> Flow[AccessToken | tuple[str, str | None] | None]:
        """After ``invalid_grant``: a token saved by another process, or a refresh token not tried yet."""
        assert self.store is not None
        deadline = time.time() + self.store.race_wait_seconds
        while True:
            record, base = yield from self._load()
            if record is not None and record.refresh_token not in tried:
                if self._fresh(record, rejected):
                    return self._adopt(record)
                return record.refresh_token, base
            if time.time() >= deadline:
                break
            yield Sleep(self.store.poll_seconds)
        own = self.settings.refresh_token
        if own and own not in tried:
            self.log.info("Trying the refresh token of the connection itself.")
            return own, base
        return None

    def _long_lived(self, record: TokenRecord | None, base: str | None, rejected: str | None) -> Flow[AccessToken]:
        """One refresh for every process: under the store's lock when it can be had, shared through the store."""
        store = self.store
        if store is None or not store.available():
            return (yield from self._refresh_long_lived(record, base, None))
        try:
            held = yield from self._lock(rejected, self.share_wait_seconds)
        except Exception as err:  # the store is a convenience for long-lived tokens, never a dependency
            self.log.warning(
                "Could not lock %s (%s); refreshing without sharing the access token.", store.description, err
            )
            return (yield from self._refresh_long_lived(record, base, None))
        if isinstance(held, AccessToken):
            return held
        if held is None:
            self.log.warning(
                "Waited %.0f s for another process to refresh the Constant Contact token (%s); refreshing "
                "without sharing the access token.",
                self.share_wait_seconds,
                store.description,
            )
            return (yield from self._refresh_long_lived(record, base, None))
        return (yield from _holding(held, self._refresh_and_share(rejected)))

    def _refresh_and_share(self, rejected: str | None) -> Flow[AccessToken]:
        """Under the lock: re-read the store (someone may have just refreshed), else refresh and save."""
        assert self.store is not None
        record, base = yield from self._load()
        if self._fresh(record, rejected):
            assert record is not None
            return self._adopt(record)
        return (yield from self._refresh_long_lived(record, base, self.store))

    def _refresh_long_lived(
        self, record: TokenRecord | None, base: str | None, locked: TokenStore | None
    ) -> Flow[AccessToken]:
        """
        Refresh with the best refresh token known. ``locked``: the store whose lock is held, where the new
        access token is saved for the other workers; without it, nothing is written unless the server
        rotated the refresh token.
        """
        candidates: list[str] = []
        for candidate in (
            self.slot.refresh_token,
            record.refresh_token if record else None,
            self.settings.refresh_token,
        ):
            if candidate and candidate not in candidates:
                candidates.append(candidate)
        if not candidates:
            raise self._no_refresh_token()
        refused: HttpResponse | None = None
        for refresh_token in candidates:
            outcome, obtained_at = yield from self._token_request(refresh_token)
            if outcome.ok:
                token = parse_token_response(outcome)
                _mask(token.refresh_token, token.value)
                new_refresh = token.refresh_token or refresh_token
                rotated = new_refresh != refresh_token
                if rotated:
                    self.log.warning(
                        "Constant Contact answered with a new refresh token although the connection's "
                        "refresh_mode is long_lived: the app issues rotating refresh tokens. Set the connection "
                        "extra refresh_mode to 'rotating'. Saving the new token to %s so that it is not lost.",
                        self._where(),
                    )
                new_record = TokenRecord(
                    new_refresh, token.value, token.expires_at, obtained_at, self.settings.client_id
                )
                if locked is not None:
                    yield from self._share(locked, new_record, base, rotated)
                elif rotated:
                    yield from self._save_unexpected_rotation(new_record, base)
                return self._obtained(token, obtained_at, new_refresh)
            key, _ = parse_error_body(outcome)
            if key != "invalid_grant":
                raise token_error(outcome)
            refused = outcome
        assert refused is not None
        _, message = parse_error_body(refused)
        raise ConstantContactAuthError(
            f"Constant Contact refused the refresh token of connection '{self.settings.conn_id or '?'}' "
            f"(invalid_grant: {message}). {reauthorize_hint(self.settings.conn_id)}"
        )

    def _share(self, store: TokenStore, record: TokenRecord, base: str | None, rotated: bool) -> Flow[None]:
        """Save a long-lived refresh's tokens under the held lock; a failure only costs the others a refresh."""
        try:
            saved = yield Blocking(store.save, (record, base))
        except Exception as err:
            level = logging.ERROR if rotated else logging.WARNING
            self.log.log(level, "Could not save the Constant Contact tokens to %s: %s", store.description, err)
            return
        if saved:
            self.log.info("Shared the new Constant Contact access token through %s.", store.description)
        else:
            self.log.warning(
                "The tokens in %s changed while this process was refreshing (a login?); keeping the stored ones.",
                store.description,
            )

    def _save_unexpected_rotation(self, record: TokenRecord, base: str | None) -> Flow[None]:
        """Without the lock (the store could not be locked): take it once and save the rotated token."""
        if self.store is None:
            return
        try:
            held = yield Blocking(self.store.try_lock)
            if held is None:
                self.log.error("Could not lock %s to save the new refresh token.", self.store.description)
                return
            try:
                yield Blocking(self.store.save, (record, base))
            finally:
                held.release()
        except Exception as err:
            self.log.error("Could not save the new refresh token to %s: %s", self.store.description, err)

    def _token_request(self, refresh_token: str) -> Flow[tuple[HttpResponse, float]]:
        """Send the refresh grant (paced, transient failures retried); return a final response and its time."""
        s = self.settings
        request = refresh_request(s.token_url, s.client_id, s.client_secret, refresh_token)
        retries = 0
        while True:
            yield from pace(self.limiter)
            outcome = yield request
            if isinstance(outcome, HttpResponse) and (outcome.ok or not is_retryable(outcome)):
                return outcome, time.time()
            retries = yield from retry_or_raise(self.retry_policy, self.log, request, outcome, retries)

    def _obtained(self, token: AccessToken, obtained_at: float, refresh_token: str) -> AccessToken:
        self.refresh_count += 1
        self.slot.hold(token, obtained_at, refresh_token)
        self.log.info(
            "Obtained a Constant Contact access token valid for %d s.", max(0.0, token.expires_at - obtained_at)
        )
        return token

    # -- errors ---------------------------------------------------------------------------------------

    def _no_refresh_token(self) -> ConstantContactAuthError:
        conn = self.settings.conn_id or "?"
        return ConstantContactAuthError(
            f"Connection '{conn}' has no refresh token: neither its 'refresh_token' extra nor {self._where()} "
            f"holds one. {reauthorize_hint(self.settings.conn_id)}"
        )

    def _lost_rotation(self, outcome: HttpResponse) -> ConstantContactAuthError:
        _, message = parse_error_body(outcome)
        conn = self.settings.conn_id or "?"
        return ConstantContactAuthError(
            f"Constant Contact refused every refresh token known for connection '{conn}' (invalid_grant: "
            f"{message}). The latest rotated refresh token is lost: a refresh whose answer was never saved, "
            "the token used by another program, or more than 180 days without use. "
            f"{reauthorize_hint(self.settings.conn_id)}"
        )


def _holding(held: StoreLock, flow: Flow[R]) -> Flow[R]:
    """Run ``flow`` while ``held``, then release it (without yielding if the flow is abandoned)."""
    try:
        result = yield from flow
    except GeneratorExit:
        held.release()
        raise
    except BaseException:
        yield Blocking(held.release)
        raise
    yield Blocking(held.release)
    return result


def _mask(*secrets: str | None) -> None:
    """Register secrets with Airflow's log masker."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)
