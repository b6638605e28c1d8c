"""
``python -m cc_provider.auth``: authorize the Constant Contact app once, and check what the connection holds.

- ``login``: authorization code with PKCE. Prints the authorize URL (and opens a browser), catches the
  redirect on a localhost listener, exchanges the code.
- ``device``: device flow, for a machine without a browser. Prints a code and a URL to open elsewhere.
- ``status``: the stored tokens' state: access-token expiry and scopes (decoded from the JWT), the
  refresh token's age, and a warning when ``offline_access`` is missing.

``login`` and ``device`` end by saving the refresh token to the connection's credential store (where every
worker finds it), or with ``--connection-file PATH``, by writing the whole connection (client ID and
secret, refresh token, settings) to a file only its owner can read, for ``airflow connections import
PATH``. No command prints a token or the secret, nor a command that carries one: Airflow's audit log
(the ``log`` table, ``/api/v2/eventLogs``) keeps the full command line of every ``airflow`` command, and
``airflow connections add --conn-extra`` masks nothing there.

The app's client ID and secret come from the connection (``--conn-id``), or from ``--client-id`` and the
environment variable ``CC_CLIENT_SECRET`` (never from the command line, where ``ps`` would show it).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import time
import webbrowser
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TextIO

import requests

from cc_provider.auth._app import App, CliError, check_file_options, resolve_app, save, write_connection_file
from cc_provider.auth.grants import (
    DEFAULT_SCOPES,
    Pkce,
    authorize_url,
    code_request,
    device_authorize_request,
    device_token_request,
    token_scopes,
)
from cc_provider.auth.redirect import RedirectListener
from cc_provider.credential_stores import TokenRecord
from cc_provider.exceptions import ConstantContactError
from cc_provider.hooks._connection import REFRESH_MODES, exchange_for, extra_value
from cc_provider.hooks._http import (
    AccessToken,
    HttpRequest,
    HttpResponse,
    jwt_claims,
    parse_error_body,
    parse_token_response,
    run_sync,
    token_error,
)
from cc_provider.hooks._retry import RetryPolicy, send_retried

DEFAULT_CONN_ID = "constant_contact_default"
DEFAULT_REDIRECT_URI = "http://localhost:8080/callback"
UNUSED_WARNING_DAYS = 150  # refresh tokens die after 180 days without use
HTTP_TIMEOUT = 30.0
RETRY_POLICY = RetryPolicy(max_retries=3)

log = logging.getLogger("cc_provider.auth")


def send(session: requests.Session, request: HttpRequest) -> HttpResponse:
    """Send one request with the hook's sync driver (transient failures retried)."""
    response: HttpResponse = run_sync(send_retried(request, RETRY_POLICY, log), session, HTTP_TIMEOUT)
    return response


# -- login -----------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace, out: TextIO) -> int:
    app = resolve_app(args)
    check_file_options(app, args)
    scopes = tuple(args.scope.split())
    pkce, state = Pkce.new(), secrets.token_urlsafe(24)
    with RedirectListener(args.redirect_uri) as listener, requests.Session() as session:
        url = authorize_url(app.auth_base_url, app.client_id, args.redirect_uri, scopes, state, pkce)
        print("Open this URL in a browser, sign in to Constant Contact and allow access:\n", file=out)
        print(f"    {url}\n", file=out)
        print(f"Waiting up to {args.timeout:.0f} s for the redirect to {args.redirect_uri} ...", file=out, flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        params = listener.wait(args.timeout)
        if params is None:
            raise CliError(f"No redirect arrived within {args.timeout:.0f} s. Run the command again.")
        if params.get("state") != state:
            raise CliError("The redirect carried another state than the one sent; ignoring it (possible CSRF).")
        if "error" in params:
            raise CliError(f"Authorization refused: {params['error']}: {params.get('error_description', '')}")
        code = params.get("code")
        if not code:
            raise CliError("The redirect carried no authorization code.")
        exchange = code_request(app.token_url, app.client_id, app.client_secret, code, args.redirect_uri, pkce)
        response = send(session, exchange)
    return finish(app, response, args, out)


# -- device ----------------------------------------------------------------------------------------


def cmd_device(args: argparse.Namespace, out: TextIO) -> int:
    app = resolve_app(args)
    check_file_options(app, args)
    scopes = tuple(args.scope.split())
    with requests.Session() as session:
        started = send(session, device_authorize_request(app.auth_base_url, app.client_id, scopes))
        if not started.ok:
            key, message = parse_error_body(started)
            raise CliError(
                f"The device authorization was refused ({key}: {message}). The app must allow the device flow "
                "in the Constant Contact developer portal."
            )
        body = started.json()
        complete = body.get("verification_uri_complete") or body["verification_uri"]
        print(f"On any device, open {body['verification_uri']} and enter the code {body['user_code']}", file=out)
        print(f"(or open {complete} directly), then allow access.", file=out, flush=True)
        if not args.no_browser:
            webbrowser.open(complete)
        interval = float(body.get("interval") or 5)
        deadline = time.time() + min(args.timeout, float(body.get("expires_in") or args.timeout))
        while True:
            time.sleep(interval)
            poll = device_token_request(app.token_url, app.client_id, app.client_secret, body["device_code"])
            response = send(session, poll)
            if response.ok:
                return finish(app, response, args, out)
            key, message = parse_error_body(response)
            if key == "slow_down":
                interval += 5
            elif key != "authorization_pending":
                raise CliError(f"The device flow ended without tokens ({key}: {message}). Run the command again.")
            if time.time() + interval > deadline:
                raise CliError("Nobody allowed access before the device code expired. Run the command again.")


# -- the end of both flows -------------------------------------------------------------------------


def finish(app: App, response: HttpResponse, args: argparse.Namespace, out: TextIO) -> int:
    if not response.ok:
        raise CliError(str(token_error(response)))
    obtained_at = time.time()
    token = parse_token_response(response, obtained_at)
    try:
        granted = response.json().get("scope")
    except (ValueError, AttributeError):
        granted = None
    scopes = token_scopes(jwt_claims(token.value), granted)
    if not token.refresh_token:
        raise CliError(
            f"Constant Contact returned no refresh token (scopes granted: {' '.join(scopes) or 'unknown'}). "
            "Ask for the offline_access scope: without it the integration cannot run unattended."
        )
    if args.connection_file:
        write_connection_file(app, token.refresh_token, args, out)
    else:
        record = TokenRecord(token.refresh_token, token.value, token.expires_at, obtained_at, app.client_id)
        where = save(app.store(), record)
        print(f"Saved the new refresh token of connection '{app.conn_id}' to {where}.", file=out)
    _describe_access_token(token, scopes, out)
    return 0


def _describe_access_token(token: AccessToken, scopes: list[str], out: TextIO) -> None:
    expires = datetime.fromtimestamp(token.expires_at, tz=timezone.utc)
    left = token.expires_at - time.time()
    state = f"valid for {left / 3600:.1f} h more" if left > 0 else "EXPIRED"
    print(f"Access token: expires {expires:%Y-%m-%d %H:%M:%S} UTC ({state}).", file=out)
    print(f"Scopes: {' '.join(scopes) or 'unknown'}", file=out)
    if scopes and "offline_access" not in scopes:
        print(
            "WARNING: the offline_access scope is missing: Constant Contact returns no refresh token without it, "
            "so the integration stops when the access token expires. Run `login` again with offline_access.",
            file=out,
        )


# -- status ----------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    app = resolve_app(args)
    store = app.store()
    refresh_mode = extra_value(app.extra, "refresh_mode") or "long_lived"
    print(f"Connection '{app.conn_id}': client ID {app.client_id}, refresh_mode {refresh_mode}.", file=out)
    try:
        record = store.load()
    except Exception as err:  # a store this machine cannot read is worth a sentence, not a traceback
        print(f"Could not read {store.description}: {err}", file=out)
        record = None
    has_own = bool(app.extra.get("refresh_token"))
    if record is None:
        print(f"{store.description}: empty.", file=out)
        if not has_own:
            print("No refresh token anywhere: run `login` or `device`.", file=out)
            return 1
        print("The connection's own refresh_token will seed it at the first refresh.", file=out)
    else:
        age_days = (time.time() - record.obtained_at) / 86400 if record.obtained_at else None
        when = f", last refreshed {age_days:.1f} days ago" if age_days is not None else ""
        print(f"{store.description}: holds a refresh token{when}.", file=out)
        if age_days is not None and age_days > UNUSED_WARNING_DAYS:
            print(
                "WARNING: a refresh token unused for 180 days expires; run `status --refresh` soon.",
                file=out,
            )
    access: AccessToken | None = None
    if record is not None and record.access_token:
        access = AccessToken(record.access_token, record.expires_at)
    if args.refresh:
        if app.connection is None:
            raise CliError(f"--refresh needs the connection '{app.conn_id}' itself.")
        exchange = exchange_for(app.connection, RETRY_POLICY, log=log)
        with requests.Session() as session:
            access = run_sync(exchange.tokens.access_token(force=True), session, HTTP_TIMEOUT)
        print("Refreshed: the refresh token works.", file=out)
    elif access is None or access.expires_within(0, time.time()):
        print("No valid access token is stored; use --refresh to obtain one.", file=out)
        return 0 if record is not None or has_own else 1
    claims = jwt_claims(access.value) or {}
    scopes = token_scopes(claims)
    if claims.get("sub"):
        print(f"Authorized user: {claims['sub']}", file=out)
    _describe_access_token(access, scopes, out)
    return 0


# -- entry point -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cc_provider.auth", description="Authorize the Constant Contact app for an Airflow connection."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conn-id", default=DEFAULT_CONN_ID, help=f"Airflow connection id (default {DEFAULT_CONN_ID})")
    common.add_argument("--client-id", help="the app's API key, if the connection does not exist yet")
    common.add_argument("--auth-base-url", help="OAuth server base URL (default: the connection's, else the real one)")
    grant = argparse.ArgumentParser(add_help=False)
    grant.add_argument("--scope", default=" ".join(DEFAULT_SCOPES), help="space-separated scopes (keep offline_access)")
    grant.add_argument("--no-browser", action="store_true", help="only print the URL; do not open a browser")
    grant.add_argument(
        "--connection-file",
        metavar="PATH",
        help="write the connection with the new refresh token to PATH (mode 0600) for `airflow connections "
        "import PATH`, instead of saving the token to the store",
    )
    grant.add_argument(
        "--api-base-url", help="with --connection-file: the API base URL to write (default: the real API's)"
    )
    grant.add_argument(
        "--refresh-mode",
        choices=REFRESH_MODES,
        help="with --connection-file: the app's refresh-token type (default: the connection's, else long_lived)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", parents=[common, grant], help="authorization code with PKCE in a browser")
    login.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI, help="registered loopback redirect URI")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the redirect")
    login.set_defaults(run=cmd_login)
    device = commands.add_parser("device", parents=[common, grant], help="device flow (no browser on this machine)")
    device.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for someone to allow access")
    device.set_defaults(run=cmd_device)
    status = commands.add_parser("status", parents=[common], help="what the connection's token store holds")
    status.add_argument(
        "--refresh", action="store_true", help="use the refresh token now (one token request; keeps it alive)"
    )
    status.set_defaults(run=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        code: int = args.run(args, out)
    except (CliError, ConstantContactError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return code
