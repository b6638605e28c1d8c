"""
One connection: its settings (from the Airflow connection), and its exchange, which sends API requests.

The exchange runs one request's life cycle as a flow (see :mod:`cc_provider.hooks._http`): a valid
token from the :class:`~cc_provider.hooks._oauth.TokenKeeper`, pacing, the send, retries of transient
failures, one refresh and replay on 401. Building it from a connection picks its credential store, this
process's token slot and rate limiters (or the shared request budget of ``rate_limiter=sql:...``); nothing
here does I/O.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import Connection

from cc_provider.credential_stores import (
    FileTokenStore,
    TokenStore,
    VariableTokenStore,
    mask_secrets,
    store_from_spec,
)
from cc_provider.exceptions import ConstantContactAuthError
from cc_provider.hooks._budget import PROCESS, budget_database, shared_budget
from cc_provider.hooks._http import (
    DEFAULT_API_BASE_URL,
    DEFAULT_AUTH_BASE_URL,
    ApiSettings,
    Flow,
    HttpRequest,
    HttpResponse,
)
from cc_provider.hooks._oauth import TokenKeeper
from cc_provider.hooks._retry import (
    API_REQUESTS_PER_SECOND,
    Pacer,
    RetryPolicy,
    TokenSlot,
    api_limiter,
    pace,
    retry_or_raise,
    shared_slot,
    token_limiter,
)

#: The connection extra ``refresh_mode``: how the app's refresh tokens behave.
REFRESH_MODES = ("long_lived", "rotating")
#: UI-facing extra names, and the names they were first released under. Airflow masks the value of any
#: extra whose name contains "token", so the form could not show or keep "long_lived" or "variable".
EXTRA_ALIASES = {"refresh_mode": "token_type", "credential_store": "token_store"}


def extra_value(extra: dict[str, Any], name: str) -> Any:
    """Read an extra by its UI name, falling back to its older alias (``token_type``, ``token_store``)."""
    value = extra.get(name)
    alias = EXTRA_ALIASES.get(name)
    return value if value not in (None, "") or alias is None else extra.get(alias)


def settings_from_connection(conn: Connection) -> ApiSettings:
    """Read and check the connection fields; raise a ValueError naming what is missing or wrong."""
    extra = conn.extra_dejson
    missing = [
        name
        for name, value in (("login (client ID / API key)", conn.login), ("password (client secret)", conn.password))
        if not value
    ]
    if missing:
        raise ValueError(f"Connection '{conn.conn_id}' lacks {', '.join(missing)}.")
    refresh_mode = str(extra_value(extra, "refresh_mode") or "long_lived")
    if refresh_mode not in REFRESH_MODES:
        raise ValueError(
            f"Connection '{conn.conn_id}': extra 'refresh_mode' must be one of {', '.join(REFRESH_MODES)}, "
            f"not {refresh_mode!r}."
        )
    refresh_token = extra.get("refresh_token")
    rate = extra.get("requests_per_second")
    try:
        requests_per_second = float(API_REQUESTS_PER_SECOND if rate in (None, "") else rate)
    except (TypeError, ValueError):
        raise ValueError(
            f"Connection '{conn.conn_id}': extra 'requests_per_second' must be a number (4 for a standard API key)."
        ) from None
    rate_limiter = extra.get("rate_limiter")
    budget_database(rate_limiter, str(conn.conn_id))  # a ValueError for anything but process or sql:<conn id>
    raw_timeout = extra.get("timeout")
    try:
        timeout = float(60.0 if raw_timeout in (None, "") else raw_timeout)
    except (TypeError, ValueError):
        timeout = -1.0
    if timeout <= 0:
        raise ValueError(f"Connection '{conn.conn_id}': extra 'timeout' must be a positive number of seconds.")
    return ApiSettings(
        client_id=str(conn.login),
        client_secret=str(conn.password),
        refresh_token=str(refresh_token) if refresh_token else None,
        api_base_url=str(extra.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"),
        auth_base_url=str(extra.get("auth_base_url") or DEFAULT_AUTH_BASE_URL).rstrip("/"),
        conn_id=str(conn.conn_id or ""),
        refresh_mode=refresh_mode,
        credential_store=str(extra_value(extra, "credential_store") or "variable"),
        requests_per_second=requests_per_second,
        rate_limiter=str(rate_limiter or PROCESS).strip(),
        timeout=timeout,
    )


def slot_key(settings: ApiSettings) -> str:
    """Fingerprint of everything that decides which tokens a connection gets (no secret in clear)."""
    parts = (
        settings.conn_id,
        settings.token_url,
        settings.client_id,
        settings.client_secret,
        settings.refresh_token or "",
        settings.refresh_mode,
        settings.credential_store or "",
    )
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def join_url(base_url: str, endpoint: str) -> str:
    """
    Resolve an endpoint or a ``_links`` href against the API base URL.

    ``/contact_lists`` becomes ``<base>/contact_lists``; an href that already carries the base path
    (``/v3/contacts?cursor=...``, as the API returns in ``_links.next.href``) is joined to the base's
    origin. Absolute URLs are accepted only on the base's own origin, so the bearer token is never
    sent to another host.
    """
    base = urlsplit(base_url.rstrip("/"))
    origin = f"{base.scheme}://{base.netloc}"
    if endpoint.startswith(("http://", "https://")):
        target = urlsplit(endpoint)
        if f"{target.scheme}://{target.netloc}" != origin:
            raise ValueError(f"Refusing to follow a link to another host: {target.scheme}://{target.netloc}")
        return endpoint
    if not endpoint.startswith("/"):
        endpoint = "/" + endpoint
    base_path = base.path.rstrip("/")
    if base_path and (endpoint == base_path or endpoint.startswith(base_path + "/")):
        return origin + endpoint
    return origin + base_path + endpoint


class Exchange:
    """
    The request life cycle of one connection: a valid token, pacing, the send, retries, one replay on 401.

    :param settings: base URLs, credentials and token settings.
    :param tokens: the connection's access tokens (the hook reads ``tokens.refresh_count`` and friends there).
    :param retry_policy: back-off for transient failures.
    :param api_limiter: pacing of API requests (the hook passes the process-wide limiter or the shared budget;
        unpaced by default).
    """

    def __init__(
        self,
        settings: ApiSettings,
        tokens: TokenKeeper,
        retry_policy: RetryPolicy,
        *,
        api_limiter: Pacer | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.retry_policy = retry_policy
        self.api_limiter = api_limiter
        self.log = log or logging.getLogger(__name__)

    def request(self, method: str, endpoint: str, **kwargs: Any) -> HttpRequest:
        """Describe an API request; ``endpoint`` is a path such as ``/contact_lists`` or a ``_links`` href."""
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        if "json_body" in kwargs or "content" in kwargs:
            headers.setdefault("Content-Type", "application/json")
        url = join_url(self.settings.api_base_url, endpoint)
        return HttpRequest(method=method, url=url, headers=headers, **kwargs)

    def call(self, request: HttpRequest) -> Flow[HttpResponse]:
        """Send an API request with a valid token, paced; retry transient failures; refresh once on 401."""
        rejected: str | None = None
        retries = 0
        while True:
            token = yield from self.tokens.access_token(rejected)
            yield from pace(self.api_limiter)
            outcome = yield request.with_header("Authorization", f"Bearer {token.value}")
            if isinstance(outcome, HttpResponse) and outcome.ok:
                return outcome
            if isinstance(outcome, HttpResponse) and outcome.status_code == 401 and rejected is None:
                self.log.info("%s %s answered 401; refreshing the access token once.", request.method, request.path)
                rejected = token.value
                continue
            retries = yield from retry_or_raise(self.retry_policy, self.log, request, outcome, retries)


def _masked_settings(conn: Connection) -> ApiSettings:
    """The connection's settings, with the client secret and the refresh token registered with the masker."""
    settings = settings_from_connection(conn)
    mask_secrets(settings.client_secret, settings.refresh_token)
    return settings


def exchange_for(conn: Connection, retry_policy: RetryPolicy, log: Any = None) -> Exchange:
    """
    Build the exchange of a connection: its token store, this process's token slot and rate limiters.

    Registers the client secret and the refresh token with Airflow's secrets masker.
    """
    settings = _masked_settings(conn)
    store = store_from_spec(settings.credential_store, settings.conn_id)
    return _exchange(settings, retry_policy, log, store, shared_slot(slot_key(settings)))


def exchange_for_test(conn: Connection, retry_policy: RetryPolicy, log: Any = None) -> Exchange:
    """
    Build the exchange for Test Connection, on the token store of the connection under test.

    Airflow's UI and REST API test a copy of the connection under a random id, so the default store,
    keyed by the connection id, would be a stranger's: a rotating refresh token used there is spent and
    its successor saved where no worker looks. A ``variable`` store is found by the connection id, else
    as the one store holding tokens of the same client id (``file:`` and class stores are whatever the
    connection names; an empty class store, possibly keyed by the temporary id, counts as none). Without
    one, ``long_lived`` tokens use the connection's own refresh token and write nothing; ``rotating``
    ones raise :class:`ConstantContactAuthError`, because testing would spend the refresh token. Nothing
    is written but the tokens of the store found.
    """
    settings = _masked_settings(conn)
    named = store_from_spec(settings.credential_store, settings.conn_id)
    store: TokenStore | None = named
    problem = ""
    if isinstance(named, VariableTokenStore):
        store, problem = _live_variable_store(settings)
    elif not isinstance(named, FileTokenStore) and settings.refresh_mode == "rotating" and named.load() is None:
        # a class store built with the temporary id may be a stranger's, like the Variable of that id
        problem, store = f"The token store {named.description} holds no tokens for this connection.", None
    if store is None and settings.refresh_mode == "rotating":
        raise ConstantContactAuthError(
            f"{problem} Testing would spend the rotating refresh token of the connection without saving "
            "its successor where the workers look, so it was not used. Run a task, or "
            "`python -m cc_provider.auth status --conn-id <connection id> --refresh`, which saves the "
            "tokens to the connection's own store, then test again."
        )
    # its own slot: a temporary id must leave nothing behind in this process either
    return _exchange(settings, retry_policy, log, store, TokenSlot())


def _exchange(
    settings: ApiSettings, retry_policy: RetryPolicy, log: Any, store: TokenStore | None, slot: TokenSlot
) -> Exchange:
    """The exchange of ``settings`` on this process's rate limiters of its client id (or its shared budget)."""
    tokens = TokenKeeper(
        settings, retry_policy, store=store, slot=slot, limiter=token_limiter(settings.client_id), log=log
    )
    return Exchange(settings, tokens, retry_policy, api_limiter=api_pacer(settings), log=log)


def api_pacer(settings: ApiSettings) -> Pacer | None:
    """The pacing of ``settings``' API requests: this process's limiter, or the ``sql:`` shared budget."""
    database = budget_database(settings.rate_limiter, settings.conn_id)
    if settings.requests_per_second <= 0:
        return None
    if database is None:
        return api_limiter(settings.client_id, settings.requests_per_second)
    return shared_budget(
        database,
        client_id=settings.client_id,
        requests_per_second=settings.requests_per_second,
        conn_id=settings.conn_id,
    )


def _live_variable_store(settings: ApiSettings) -> tuple[VariableTokenStore | None, str]:
    """The Variable store of the connection under test, or ``None`` and why it was not found."""
    own = VariableTokenStore(settings.conn_id, use_here=True)
    try:
        if own.load() is not None:
            return own, ""
        found = VariableTokenStore.of_client(settings.client_id)
    except Exception as err:  # no metadata database here, an unreadable record, ...
        return None, f"Could not read the Airflow Variables holding Constant Contact tokens ({err})."
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"No Airflow Variable holds Constant Contact tokens of client ID {settings.client_id} yet."
    keys = ", ".join(store.key for store in found)
    return None, (
        f"{len(found)} Airflow Variables hold tokens of client ID {settings.client_id} ({keys}), and which of "
        "them belongs to the connection under test cannot be told."
    )
