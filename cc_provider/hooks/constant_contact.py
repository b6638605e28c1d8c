"""Hook for the Constant Contact V3 API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import requests
from airflow.sdk import BaseHook, Connection

from cc_provider.exceptions import ActivityNotFoundError, ConstantContactApiError, ConstantContactError
from cc_provider.hooks._connection import Exchange, exchange_for, exchange_for_test, settings_from_connection
from cc_provider.hooks._http import ApiSettings, Flow, HttpResponse, run_async, run_sync
from cc_provider.hooks._retry import RetryPolicy

CONTACTS_PAGE_SIZE = 500
MAX_CONTACT_IDS_PER_ACTIVITY = 500
LISTS_PAGE_SIZE = 1000
#: Reading activities: more ids than this are looked up in ``GET /activities`` pages (the last 10 days).
LIST_THRESHOLD = 2
LIST_PAGE_SIZE = 500
MAX_LIST_PAGES = 4


class ConstantContactHook(BaseHook):
    """
    Talk to the Constant Contact V3 API with an OAuth2 refresh token.

    The connection holds the app's client ID (login), client secret (password) and, in its extras,
    ``refresh_token``, ``refresh_mode`` (``long_lived`` or ``rotating``), ``credential_store`` and optionally
    ``api_base_url`` / ``auth_base_url`` (see :mod:`cc_provider.hooks._oauth`), ``requests_per_second`` and
    ``rate_limiter`` (``process``, or ``sql:<database conn id>`` for one budget across workers: see
    :mod:`cc_provider.hooks._budget`). The constructor does no I/O.

    :param constant_contact_conn_id: Airflow connection id.
    :param timeout: seconds to wait for one HTTP response; by default the connection extra ``timeout`` (60).
    :param max_retries: retries of a transient failure (connection error, timeout, 5xx, 429 throttled);
        default :attr:`default_max_retries`.
    :param backoff_base: first retry delay in seconds, doubling with each retry (with jitter);
        default :attr:`default_backoff_base`.
    """

    conn_name_attr = "constant_contact_conn_id"
    default_conn_name = "constant_contact_default"
    conn_type = "constant_contact"
    hook_name = "Constant Contact"

    #: Defaults for hooks built without explicit retry settings (by operators, sensors and triggers).
    default_max_retries = 5
    default_backoff_base = 1.0

    def __init__(
        self,
        constant_contact_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
    ) -> None:
        super().__init__()
        self.constant_contact_conn_id = constant_contact_conn_id
        self.timeout = timeout
        self.retry_policy = RetryPolicy(
            max_retries=self.default_max_retries if max_retries is None else max_retries,
            backoff_base=self.default_backoff_base if backoff_base is None else backoff_base,
        )
        self._exchange: Exchange | None = None
        self._session: requests.Session | None = None
        self._async_client: httpx.AsyncClient | None = None

    # -- connection ---------------------------------------------------------------------------------

    @staticmethod
    def settings_from_connection(conn: Connection) -> ApiSettings:
        """Read and check the connection fields; raise a ValueError naming what is missing."""
        return settings_from_connection(conn)

    def _make_exchange(self, conn: Connection) -> Exchange:
        return exchange_for(conn, self.retry_policy, log=self.log)

    @property
    def exchange(self) -> Exchange:
        """The token cache and retry loop of this hook's connection (loaded on first use)."""
        if self._exchange is None:
            self._exchange = self._make_exchange(self.get_connection(self.constant_contact_conn_id))
        return self._exchange

    def _timeout(self, exchange: Exchange) -> float:
        return self.timeout if self.timeout is not None else exchange.settings.timeout

    def get_conn(self) -> requests.Session:
        """Return the hook's one ``requests.Session``."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    # -- sending ------------------------------------------------------------------------------------

    def run_flow(self, flow: Flow[Any]) -> Any:
        """Drive a flow (see :mod:`cc_provider.hooks._http`) over the sync session."""
        return run_sync(flow, self.get_conn(), self._timeout(self.exchange))

    def call(self, method: str, endpoint: str, **kwargs: Any) -> HttpResponse:
        """Send one API request (token, retries and 401 replay included) and return the response."""
        exchange = self.exchange
        return self.run_flow(exchange.call(exchange.request(method, endpoint, **kwargs)))

    def call_json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send one API request and decode its JSON body."""
        return self.call(method, endpoint, **kwargs).json()

    def paginate(self, endpoint: str, items_key: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Yield the items of every page, following ``_links.next.href`` until it is absent."""
        next_endpoint: str | None = endpoint
        page_params = params
        while next_endpoint:
            page = self.call_json("GET", next_endpoint, params=page_params)
            yield from page.get(items_key) or []
            next_endpoint = next_href(page)
            page_params = None  # the href carries the cursor and every filter

    async def _aexchange(self) -> Exchange:
        if self._exchange is None:
            self._exchange = self._make_exchange(await self.aget_connection(self.constant_contact_conn_id))
        return self._exchange

    def _aclient(self) -> httpx.AsyncClient:
        if self._async_client is None:
            self._async_client = httpx.AsyncClient()
        return self._async_client

    async def acall_json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Async twin of :meth:`call_json` for triggers: same flow, driven over ``httpx``."""
        exchange = await self._aexchange()
        flow = exchange.call(exchange.request(method, endpoint, **kwargs))
        response = await run_async(flow, self._aclient(), self._timeout(exchange))
        return response.json()

    async def aclose(self) -> None:
        """Close the async client opened by :meth:`acall_json`."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    # -- contact lists ------------------------------------------------------------------------------

    def find_list_by_name(self, name: str) -> dict[str, Any] | None:
        """Return the list with exactly this name, or ``None``."""
        for contact_list in self.paginate("/contact_lists", "lists", {"name": name, "limit": LISTS_PAGE_SIZE}):
            if contact_list.get("name") == name:
                return contact_list
        return None

    def create_list(self, name: str, description: str | None = None, favorite: bool = False) -> dict[str, Any]:
        """Create a contact list; the API answers 409 if the name is taken."""
        body: dict[str, Any] = {"name": name, "favorite": favorite}
        if description is not None:
            body["description"] = description
        return self.call_json("POST", "/contact_lists", json_body=body)

    def get_or_create_list(self, name: str, description: str | None = None) -> tuple[dict[str, Any], bool]:
        """Return ``(list, created)``: the existing list with this name, or a new one."""
        existing = self.find_list_by_name(name)
        if existing is not None:
            return existing, False
        try:
            return self.create_list(name, description), True
        except ConstantContactApiError as err:
            if err.status_code != 409:
                raise
            raced = self.find_list_by_name(name)  # created by someone else in between
            if raced is None:
                raise
            return raced, False

    # -- contacts -----------------------------------------------------------------------------------

    def iter_contacts(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield contacts matching the ``GET /contacts`` filters (e.g. ``lists=``, ``status=``)."""
        params = {"limit": CONTACTS_PAGE_SIZE, **filters}
        return self.paginate("/contacts", "contacts", params)

    def count_list_members(self, list_id: str, status: str | None = None) -> int:
        """Count the contacts of a list through ``GET /contacts?lists=...&include_count=true``."""
        params: dict[str, Any] = {"lists": list_id, "include_count": "true", "limit": 1}
        if status:
            params["status"] = status
        page = self.call_json("GET", "/contacts", params=params)
        if "contacts_count" not in page:
            raise ConstantContactError("GET /contacts did not return contacts_count although include_count=true.")
        return int(page["contacts_count"])

    def find_contact(self, email: str) -> dict[str, Any] | None:
        """Return the contact with this email in any status (deleted ones too), with its list memberships."""
        params = {"email": email, "status": "all", "include": "list_memberships"}
        contacts = self.call_json("GET", "/contacts", params=params).get("contacts") or []
        return contacts[0] if contacts else None

    def sign_up_form(self, contact: dict[str, Any], attempts: int = 3) -> tuple[str, bool]:
        """
        Create or update one contact by email (``POST /contacts/sign_up_form``); return ``(contact_id, created)``.

        The API answers 409 when simultaneous requests update the same contact; that is retried.
        """
        attempt = 1
        while True:
            try:
                response = self.call("POST", "/contacts/sign_up_form", json_body=contact)
                return str(response.json()["contact_id"]), response.status_code == 201
            except ConstantContactApiError as err:
                if err.status_code != 409 or attempt >= attempts:
                    raise
                delay = self.retry_policy.delay(attempt)
                self.log.warning("sign_up_form answered 409 (a concurrent update); retrying in %.1f s.", delay)
                time.sleep(delay)
                attempt += 1

    # -- bulk activities ----------------------------------------------------------------------------

    def add_list_memberships(self, list_ids: Sequence[str], contact_ids: Sequence[str]) -> dict[str, Any]:
        """Start an activity adding up to 500 contacts to up to 50 lists."""
        return self._membership_activity("add_list_memberships", list_ids, contact_ids)

    def remove_list_memberships(self, list_ids: Sequence[str], contact_ids: Sequence[str]) -> dict[str, Any]:
        """Start an activity removing up to 500 contacts from up to 50 lists."""
        return self._membership_activity("remove_list_memberships", list_ids, contact_ids)

    def _membership_activity(self, kind: str, list_ids: Sequence[str], contact_ids: Sequence[str]) -> dict[str, Any]:
        if not 1 <= len(contact_ids) <= MAX_CONTACT_IDS_PER_ACTIVITY:
            raise ValueError(f"{kind} takes 1 to {MAX_CONTACT_IDS_PER_ACTIVITY} contact ids; got {len(contact_ids)}.")
        if not 1 <= len(list_ids) <= 50:
            raise ValueError(f"{kind} takes 1 to 50 list ids; got {len(list_ids)}.")
        body = {"source": {"contact_ids": list(contact_ids)}, "list_ids": list(list_ids)}
        return self.call_json("POST", f"/activities/{kind}", json_body=body)

    def start_contact_export(
        self,
        *,
        list_ids: Sequence[str] | None = None,
        status: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Start a ``contact_exports`` activity (all contacts, or those of up to 50 lists)."""
        body: dict[str, Any] = {}
        if list_ids:
            body["list_ids"] = list(list_ids)
        if status:
            body["status"] = status
        if fields:
            body["fields"] = list(fields)
        return self.call_json("POST", "/activities/contact_exports", json_body=body)

    def download_export(self, results_href: str) -> bytes:
        """Return the CSV of a completed export, from its activity's ``_links.results.href``."""
        return self.call("GET", results_href, headers={"Accept": "text/csv"}).content

    def submit_csv_import(
        self,
        path: str,
        list_ids: Sequence[str],
        file_name: str | None = None,
        sms_permission_to_send: str | None = None,
    ) -> dict[str, Any]:
        """Upload a CSV file to ``contacts_file_import`` (multipart; the file is read from disk)."""
        name = file_name or os.path.basename(path)
        if not name.lower().endswith(".csv"):
            raise ValueError(f"The API takes only .csv files; got {name!r}.")
        form = {"list_ids": ",".join(list_ids)}
        if sms_permission_to_send is not None:
            form["sms_permission_to_send"] = sms_permission_to_send
        return self.call_json(
            "POST", "/activities/contacts_file_import", form=form, upload=("file", name, path), replay_safe=False
        )

    def custom_field_names(self) -> set[str]:
        """Return the ``name`` of every custom field of the account (what ``cf:<name>`` columns refer to)."""
        fields = self.paginate("/contact_custom_fields", "custom_fields", {"limit": 100})
        return {str(f["name"]) for f in fields if f.get("name")}

    def create_custom_field(self, label: str, field_type: str = "string") -> dict[str, Any]:
        """Create a custom field; its ``name`` is the label with underscores for spaces."""
        return self.call_json("POST", "/contact_custom_fields", json_body={"label": label, "type": field_type})

    def list_ids_for_names(self, names: Sequence[str], create_missing: bool = True) -> list[str]:
        """Return the ids of the lists with these exact names, creating the missing ones if asked."""
        ids = []
        for name in names:
            if create_missing:
                contact_list, created = self.get_or_create_list(name)
                if created:
                    self.log.info("Created list %r (%s).", name, contact_list["list_id"])
            else:
                found = self.find_list_by_name(name)
                if found is None:
                    raise ValueError(f"No contact list is named {name!r}.")
                contact_list = found
            ids.append(str(contact_list["list_id"]))
        return ids

    def submit_json_import(self, body: bytes) -> dict[str, Any]:
        """POST a ready-made ``contacts_json_import`` body (bytes as sent) and return the activity."""
        return self.call_json("POST", "/activities/contacts_json_import", content=body, replay_safe=False)

    def get_activity(self, activity_id: str) -> dict[str, Any]:
        """Return the current status of a bulk activity (:class:`ActivityNotFoundError` past retention)."""
        return self.run_flow(activity_flow(self.exchange, activity_id))

    def get_activities(self, activity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the status of several activities by id, with as few requests as possible."""
        return self.run_flow(activities_flow(self.exchange, activity_ids))

    async def aget_activity(self, activity_id: str) -> dict[str, Any]:
        """Async :meth:`get_activity` for triggers."""
        return (await self.aget_activities([activity_id]))[activity_id]

    async def aget_activities(self, activity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Async :meth:`get_activities` for triggers: the same flow, driven over ``httpx``."""
        exchange = await self._aexchange()
        return await run_async(activities_flow(exchange, activity_ids), self._aclient(), self._timeout(exchange))

    # -- connection test ----------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """
        Use the refresh token once and read one page of contact lists: a true answer for Test Connection.

        Airflow's UI and REST API run this on a copy of the connection under a random id; the tokens of the
        connection it copies are found by :func:`~cc_provider.hooks._connection.exchange_for_test`, so a
        rotating refresh token is rotated where every worker finds it, never spent under the random id.
        """
        try:
            exchange = exchange_for_test(
                self.get_connection(self.constant_contact_conn_id), self.retry_policy, log=self.log
            )
            timeout = self._timeout(exchange)
            run_sync(exchange.tokens.access_token(force=True), self.get_conn(), timeout)
            request = exchange.request("GET", "/contact_lists", params={"limit": 1, "include_count": "true"})
            page = run_sync(exchange.call(request), self.get_conn(), timeout).json()
        except (ConstantContactError, ValueError) as err:
            return False, str(err)
        return True, (
            "Connected to Constant Contact: the client credentials and the refresh token work; the account has "
            f"{page.get('lists_count', 'some')} list(s)."
        )


# -- reading activities: one flow for the sync and the async driver ---------------------------------


def next_href(page: dict[str, Any]) -> str | None:
    """Return ``_links.next.href`` of a page, or ``None`` on the last page."""
    return ((page.get("_links") or {}).get("next") or {}).get("href")


def activity_flow(exchange: Exchange, activity_id: str) -> Flow[dict[str, Any]]:
    """``GET /activities/{id}``; a 404 becomes :class:`ActivityNotFoundError` with the retention rule."""
    request = exchange.request("GET", f"/activities/{quote(activity_id, safe='')}")
    try:
        response = yield from exchange.call(request)
    except ConstantContactApiError as err:
        if err.status_code == 404:
            raise ActivityNotFoundError(
                f"Activity {activity_id} was not found. Constant Contact keeps an activity's status for "
                "10 days; an older activity (or a wrong id) cannot be followed."
            ) from None
        raise
    body: dict[str, Any] = response.json()
    return body


def activities_flow(exchange: Exchange, activity_ids: Sequence[str]) -> Flow[dict[str, dict[str, Any]]]:
    """
    Return the status bodies of ``activity_ids``, keyed by id, with as few requests as possible.

    Few ids cost one ``GET /activities/{id}`` each; more than ``LIST_THRESHOLD`` are looked up in
    ``GET /activities`` pages first, and any not found there are read one by one.
    """
    wanted = set(activity_ids)
    found: dict[str, dict[str, Any]] = {}
    if len(wanted) > LIST_THRESHOLD:
        endpoint: str | None = "/activities"
        params: dict[str, Any] | None = {"limit": LIST_PAGE_SIZE}
        for _ in range(MAX_LIST_PAGES):
            if endpoint is None:
                break
            response = yield from exchange.call(exchange.request("GET", endpoint, params=params))
            page = response.json()
            for activity in page.get("activities") or []:
                if activity.get("activity_id") in wanted:
                    found[activity["activity_id"]] = activity
            if wanted <= found.keys():
                break
            endpoint, params = next_href(page), None
    for activity_id in activity_ids:
        if activity_id not in found:
            found[activity_id] = yield from activity_flow(exchange, activity_id)
    return found
