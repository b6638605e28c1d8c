"""
The access tokens of one connection, as flows: shared in the process, shared through a store, refreshed, rotated.

The order of business when a flow needs a token (:meth:`TokenKeeper.access_token`):

1. The process's :class:`~cc_provider.hooks._retry.TokenSlot`: one access token for every hook of the process (the
   triggerer runs many triggers); a non-blocking mutex lets one flow at a time go further.
2. The credential store: a fresh access token saved by another worker is used as is.
3. ``long_lived`` tokens: take the store's refresh lock if it can be had (waiting a little for another process's
   refresh, then using its token), re-read the store, refresh with the best refresh token known (slot, store,
   connection) and save the new access token for every other worker, release. The store is a convenience here, never
   a dependency: when it cannot be read, locked or written, the process refreshes on its own and carries on. If the
   server turns out to rotate tokens after all, the new refresh token is saved (a warning says to set
   ``refresh_mode`` to ``rotating``), because dropping it would lock the app out.
4. ``rotating`` tokens: take the store's refresh lock, re-read the store (someone may have refreshed meanwhile),
   refresh, **save the new refresh token before the access token is used**, release. On ``invalid_grant``, re-read
   the store (waiting a little for a racing writer on a best-effort store) and retry with a newer token, then with
   the connection's own token; only then fail with a :class:`ConstantContactAuthError` that says how to
   re-authorize.

Every token request is paced by the process's token-endpoint limiter (1 a second). The requests and their answers
are pure functions of :mod:`cc_provider.hooks._http`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cc_provider.credential_stores import StoreLock, TokenRecord, TokenStore, mask_secrets
from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks import _http  # the token endpoint's messages: refresh_request, parse_token_response, ...
from cc_provider.hooks._http import AccessToken, ApiSettings, Blocking, Flow, HttpResponse, Sleep, holding
from cc_provider.hooks._retry import SLOT_POLL_SECONDS, RateLimiter, RetryPolicy, TokenSlot, send_retried


@dataclass(frozen=True)
class _Refused:
    """The access tokens a flow must not return: one the API just refused with 401, or ``every`` one."""

    value: str | None = None
    every: bool = False


class TokenKeeper:
    """
    Obtain, share and rotate the access tokens of one connection.

    :param settings: the connection's credentials and token settings.
    :param retry_policy: back-off for transient token-endpoint failures.
    :param store: the shared credential store (``None``: this process only; ``long_lived`` tokens only).
    :param slot: the in-process token slot (shared by the hooks of a process; a private one by default).
    :param limiter: pacing of token-endpoint requests (``None``: unpaced).
    :param refresh_lead_seconds: refresh this long before expiry (capped at half the token's lifetime).
    :param lock_timeout: seconds to wait for another process's refresh before giving up (rotating tokens).
    :param share_wait_seconds: ``long_lived`` tokens: seconds to wait for another process's refresh
        before refreshing without the lock (and without sharing the result).
    :param clock: the wall clock (expiry epochs are shared across processes).
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.refresh_mode == "rotating" and store is None:
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
        self.clock = clock
        #: How many times this keeper obtained a token from the token endpoint.
        self.refresh_count = 0

    @property
    def rotating(self) -> bool:
        return self.settings.refresh_mode == "rotating"

    def access_token(self, rejected: str | None = None, *, force: bool = False) -> Flow[AccessToken]:
        """
        Return a valid access token; ``rejected`` is one the API just refused with 401 (never returned).

        ``force`` uses the refresh token whatever the access token's age: a keep-alive against the
        180-day expiry of unused refresh tokens.
        """
        slot, refused = self.slot, _Refused(rejected, every=force)
        if force or rejected is not None:
            slot.forget(None if force else rejected)
        while True:
            token = None if force else slot.usable(self.refresh_lead_seconds, self.clock(), rejected)
            if token is not None:
                return token
            if slot.try_acquire():
                break
            yield Sleep(SLOT_POLL_SECONDS)
        try:
            # the slot may have been filled while we waited for the mutex
            token = None if force else slot.usable(self.refresh_lead_seconds, self.clock(), rejected)
            if token is None:
                token = yield from self._obtain(refused)
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
        mask_secrets(record.refresh_token, record.access_token)
        if record.client_id and record.client_id != self.settings.client_id:
            self.log.warning(
                "The token store %s holds tokens of another client ID; ignoring them.", self.store.description
            )
            return None, record.refresh_token
        return record, record.refresh_token

    def _reread(self, refused: _Refused) -> Flow[tuple[AccessToken | None, TokenRecord | None, str | None]]:
        """Read the store: ``(its fresh token, adopted, or None; the record; the base for compare-and-swap)``."""
        record, base = yield from self._load()
        if record is not None and self._fresh(record, refused):
            return self._adopt(record), record, base
        return None, record, base

    def _fresh(self, record: TokenRecord, refused: _Refused) -> bool:
        if not record.access_token or refused.every or record.access_token == refused.value:
            return False
        lead = min(self.refresh_lead_seconds, max(0.0, record.expires_at - record.obtained_at) / 2)
        return self.clock() + lead < record.expires_at

    def _adopt(self, record: TokenRecord) -> AccessToken:
        assert record.access_token is not None
        token = AccessToken(record.access_token, record.expires_at)
        self.slot.hold(token, record.obtained_at, record.refresh_token)
        self.log.info("Using the Constant Contact access token shared through %s.", self._where())
        return token

    def _where(self) -> str:
        return self.store.description if self.store is not None else "this process"

    def _lock(self, refused: _Refused, timeout: float) -> Flow[StoreLock | AccessToken | None]:
        """The store's refresh lock, or the token another process saved meanwhile; ``None`` after ``timeout`` s."""
        assert self.store is not None
        deadline = self.clock() + timeout
        waited = False
        while True:
            held: StoreLock | None = yield Blocking(self.store.try_lock)
            if held is not None:
                return held
            if not waited:
                self.log.info("Another process is refreshing the Constant Contact token; waiting for it.")
                waited = True
            token, _, _ = yield from self._reread(refused)
            if token is not None:
                return token
            if self.clock() >= deadline:
                return None
            yield Sleep(self.store.poll_seconds)

    # -- obtaining ------------------------------------------------------------------------------------

    def _obtain(self, refused: _Refused) -> Flow[AccessToken]:
        token, record, base = yield from self._reread(refused)
        if token is not None:
            return token
        if not self.rotating:
            return (yield from self._long_lived(record, base, refused))
        assert self.store is not None
        held = yield from self._lock(refused, self.lock_timeout)
        if isinstance(held, AccessToken):
            return held
        if held is None:
            raise ConstantContactAuthError(
                f"Waited {self.lock_timeout:.0f} s for another process to refresh the Constant Contact "
                f"token ({self.store.description}) without getting a new token. Retry the task; if this "
                "repeats, look for a stuck process holding the lock."
            )
        return (yield from holding(held.release, self._rotate(refused)))

    def _rotate(self, refused: _Refused) -> Flow[AccessToken]:
        """Refresh under the lock; save the rotated refresh token before returning the access token."""
        assert self.store is not None
        token, record, base = yield from self._reread(refused)  # re-read under the lock
        if token is not None:
            return token
        refresh_token = record.refresh_token if record is not None else self.settings.refresh_token
        if not refresh_token:
            raise self._no_refresh_token()
        tried: list[str] = []
        while True:
            granted = yield from self._grant(refresh_token)
            if not isinstance(granted, HttpResponse):
                token, new_record = granted
                if not token.refresh_token:
                    self.log.warning(
                        "The token response carried no refresh token: the authorization lacks the "
                        "offline_access scope. Keeping the previous refresh token."
                    )
                if (yield Blocking(self.store.save, (new_record, base))):
                    self.log.info("Saved the rotated Constant Contact refresh token to %s.", self.store.description)
                else:
                    self.log.warning(
                        "The tokens in %s changed while this process was refreshing (a login?); "
                        "keeping the stored ones and using this process's access token once.",
                        self.store.description,
                    )
                return self._obtained(token, new_record)
            tried.append(refresh_token)
            self.log.warning(
                "Constant Contact refused a refresh token (invalid_grant); looking for a newer one in %s.",
                self.store.description,
            )
            found = yield from self._newer(tried, refused)
            if isinstance(found, AccessToken):
                return found
            if found is None:
                raise self._lost_rotation(granted)
            refresh_token, base = found

    def _newer(self, tried: list[str], refused: _Refused) -> Flow[AccessToken | tuple[str, str | None] | None]:
        """After ``invalid_grant``: a token saved by another process, or a refresh token not tried yet."""
        assert self.store is not None
        deadline = self.clock() + self.store.race_wait_seconds
        while True:
            record, base = yield from self._load()
            if record is not None and record.refresh_token not in tried:
                if self._fresh(record, refused):
                    return self._adopt(record)
                return record.refresh_token, base
            if self.clock() >= deadline:
                break
            yield Sleep(self.store.poll_seconds)
        own = self.settings.refresh_token
        if own and own not in tried:
            self.log.info("Trying the refresh token of the connection itself.")
            return own, base
        return None

    def _long_lived(self, record: TokenRecord | None, base: str | None, refused: _Refused) -> Flow[AccessToken]:
        """One refresh for every process: under the store's lock when it can be had, shared through the store."""
        store = self.store
        held: StoreLock | AccessToken | None = None
        if store is not None and store.available():
            try:
                held = yield from self._lock(refused, self.share_wait_seconds)
            except Exception as err:  # the store is a convenience for long-lived tokens, never a dependency
                self.log.warning(
                    "Could not lock %s (%s); refreshing without sharing the access token.", store.description, err
                )
            else:
                if held is None:
                    self.log.warning(
                        "Waited %.0f s for another process to refresh the Constant Contact token (%s); "
                        "refreshing without sharing the access token.",
                        self.share_wait_seconds,
                        store.description,
                    )
        if isinstance(held, AccessToken):
            return held
        if held is None:
            return (yield from self._refresh_long_lived(record, base, refused, None))
        return (yield from holding(held.release, self._refresh_long_lived(record, base, refused, store)))

    def _refresh_long_lived(
        self, record: TokenRecord | None, base: str | None, refused: _Refused, locked: TokenStore | None
    ) -> Flow[AccessToken]:
        """
        Refresh with the best refresh token known; save the tokens to ``locked`` (the store whose lock is
        held, re-read first: someone may have just refreshed) for the other workers, or, without it, only
        a refresh token the server rotated.
        """
        if locked is not None:
            token, record, base = yield from self._reread(refused)
            if token is not None:
                return token
        known = (self.slot.refresh_token, record.refresh_token if record else None, self.settings.refresh_token)
        candidates = list(dict.fromkeys(candidate for candidate in known if candidate))
        if not candidates:
            raise self._no_refresh_token()
        refused_answer: HttpResponse | None = None
        for refresh_token in candidates:
            granted = yield from self._grant(refresh_token)
            if isinstance(granted, HttpResponse):
                refused_answer = granted
                continue
            token, new_record = granted
            rotated = new_record.refresh_token != refresh_token
            if rotated:
                self.log.warning(
                    "Constant Contact answered with a new refresh token although the connection's "
                    "refresh_mode is long_lived: the app issues rotating refresh tokens. Set the connection "
                    "extra refresh_mode to 'rotating'. Saving the new token to %s so that it is not lost.",
                    self._where(),
                )
            if locked is not None:
                yield from self._share(locked, new_record, base, rotated)
            elif rotated:
                yield from self._save_unexpected_rotation(new_record, base)
            return self._obtained(token, new_record)
        assert refused_answer is not None
        _, message = _http.parse_error_body(refused_answer)
        raise ConstantContactAuthError(
            f"Constant Contact refused the refresh token of connection '{self.settings.conn_id or '?'}' "
            f"(invalid_grant: {message}). {_http.reauthorize_hint(self.settings.conn_id)}"
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

    def _grant(self, refresh_token: str) -> Flow[tuple[AccessToken, TokenRecord] | HttpResponse]:
        """Use ``refresh_token`` (paced, transient failures retried): the new tokens, or the invalid_grant answer."""
        s = self.settings
        request = _http.refresh_request(s.token_url, s.client_id, s.client_secret, refresh_token)
        answer = yield from send_retried(request, self.retry_policy, self.log, self.limiter)
        obtained_at = self.clock()
        if not answer.ok:
            if _http.parse_error_body(answer)[0] != "invalid_grant":
                raise _http.token_error(answer)
            return answer
        token = _http.parse_token_response(answer, obtained_at)
        mask_secrets(token.refresh_token, token.value)
        new_refresh = token.refresh_token or refresh_token
        return token, TokenRecord(new_refresh, token.value, token.expires_at, obtained_at, s.client_id)

    def _obtained(self, token: AccessToken, record: TokenRecord) -> AccessToken:
        self.refresh_count += 1
        self.slot.hold(token, record.obtained_at, record.refresh_token)
        self.log.info(
            "Obtained a Constant Contact access token valid for %d s.", max(0.0, token.expires_at - record.obtained_at)
        )
        return token

    def _no_refresh_token(self) -> ConstantContactAuthError:
        conn = self.settings.conn_id or "?"
        return ConstantContactAuthError(
            f"Connection '{conn}' has no refresh token: neither its 'refresh_token' extra nor {self._where()} "
            f"holds one. {_http.reauthorize_hint(self.settings.conn_id)}"
        )

    def _lost_rotation(self, answer: HttpResponse) -> ConstantContactAuthError:
        _, message = _http.parse_error_body(answer)
        return ConstantContactAuthError(
            f"Constant Contact refused every refresh token known for connection '{self.settings.conn_id or '?'}' "
            f"(invalid_grant: {message}). The latest rotated refresh token is lost: a refresh whose answer was "
            "never saved, the token used by another program, or more than 180 days without use. "
            f"{_http.reauthorize_hint(self.settings.conn_id)}"
        )
