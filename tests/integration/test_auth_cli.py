"""
``python -m cc_provider.auth`` end to end against the sandbox: login (PKCE + localhost redirect), device
flow, --connection-file, status. A fake browser stands in for the person: it opens the URL the CLI hands to
``webbrowser.open`` and follows the redirects, which the sandbox's auto-consent turns into a code.
"""

from __future__ import annotations

import io
import json
import shlex
import socket
import threading
import time
import urllib.error
import urllib.request
import webbrowser

import jwt
import pytest

from cc_provider.auth.cli import main
from cc_provider.credential_stores import FileTokenStore, TokenRecord, VariableTokenStore
from cc_provider.hooks._retry import reset_process_state
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_sandbox.config import SandboxConfig
from cc_sandbox.server import SandboxServer
from cc_sandbox.testing import FAST_CONFIG, expire_tokens, reset_sandbox, sandbox_stats

CONN_ID = "cc_cli"
CONN_ENV = "AIRFLOW_CONN_CC_CLI"
SECRET = "cli-client-secret-never-printed"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


REDIRECT_URI = f"http://localhost:{free_port()}/callback"


@pytest.fixture(scope="module")
def sandbox():
    config = SandboxConfig(
        **FAST_CONFIG,
        client_secret=SECRET,
        refresh_token_mode="rotating",
        redirect_uris=(REDIRECT_URI,),
        device_poll_interval=0.2,
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def connection(sandbox, tmp_path, monkeypatch) -> dict:
    """A connection created before anyone logged in: credentials and URLs, no refresh token."""
    reset_sandbox(sandbox)
    reset_process_state()
    conn = {
        "conn_type": "constant_contact",
        "login": sandbox.config.client_id,
        "password": SECRET,
        "extra": {
            "api_base_url": sandbox.api_base_url,
            "auth_base_url": sandbox.auth_base_url,
            "token_type": "rotating",
            "token_store": f"file:{tmp_path / 'tokens.json'}",
        },
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    yield conn
    reset_process_state()


@pytest.fixture
def browser(monkeypatch) -> list[str]:
    """Replace the browser: open each URL in a thread, following redirects (to the CLI's listener)."""
    opened: list[str] = []

    def visit(url: str) -> None:
        try:
            urllib.request.urlopen(url, timeout=10).read()
        except urllib.error.HTTPError:
            pass  # an error page is still a visit

    def fake_open(url: str, *args, **kwargs) -> bool:
        opened.append(url)
        threading.Thread(target=visit, args=(url,), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    return opened


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def store_of(conn: dict) -> FileTokenStore:
    return FileTokenStore(conn["extra"]["token_store"].removeprefix("file:"))


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in (SECRET, *secrets):
        assert secret not in text


def test_login_saves_the_refresh_token_where_the_hook_finds_it(sandbox, connection, browser):
    code, out = run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20")
    assert code == 0, out
    assert len(browser) == 1 and browser[0] in out  # the authorize URL is printed too
    assert "code_challenge_method=S256" in browser[0] and "offline_access" in browser[0]
    assert "Saved the new refresh token of connection 'cc_cli' to file" in out
    assert "Scopes: contact_data offline_access" in out
    record = store_of(connection).load()
    assert sandbox.state.refresh_token_owner(record.refresh_token) == sandbox.config.client_id
    assert_no_secret(out, record.refresh_token, record.access_token)

    # The hook uses the stored access token as is, then rotates the stored refresh token when it must.
    hook = ConstantContactHook(CONN_ID, max_retries=1)
    hook.call_json("GET", "/contact_lists")
    assert sandbox_stats(sandbox)["refreshes"] == 0
    expire_tokens(sandbox)
    hook.call_json("GET", "/contact_lists")
    assert sandbox_stats(sandbox)["refreshes"] == 1
    rotated = store_of(connection).load()
    assert rotated.refresh_token != record.refresh_token
    assert sandbox.state.refresh_token_owner(rotated.refresh_token) == sandbox.config.client_id


def test_device_flow(sandbox, connection, browser):
    code, out = run("device", "--conn-id", CONN_ID, "--timeout", "20")
    assert code == 0, out
    assert "enter the code" in out and len(browser) == 1
    record = store_of(connection).load()
    assert sandbox.state.refresh_token_owner(record.refresh_token) == sandbox.config.client_id
    assert_no_secret(out, record.refresh_token, record.access_token)
    ConstantContactHook(CONN_ID).call_json("GET", "/contact_lists")


def test_device_flow_without_a_browser_waits_for_someone_to_allow(sandbox, connection, browser):
    def person_allows_later():
        deadline = time.monotonic() + 15  # once the CLI has asked for a code (a busy machine may take a while)
        while not sandbox.state.device_codes and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # and is waiting for someone
        with sandbox.state.lock:
            user_code = next(iter(sandbox.state.device_codes.values())).user_code
        urllib.request.urlopen(f"{sandbox.url}/activate?user_code={user_code}", timeout=10).read()

    threading.Thread(target=person_allows_later, daemon=True).start()
    code, out = run("device", "--conn-id", CONN_ID, "--no-browser", "--timeout", "20")
    assert code == 0, out
    assert browser == []


def test_a_connection_file_holds_a_ready_connection_and_nothing_printed_carries_a_secret(
    sandbox, connection, browser, tmp_path, monkeypatch
):
    path = tmp_path / "cc_cli.json"
    path.write_text("{}")
    path.chmod(0o644)  # an old file with a wider mode: written over, and made private
    argv = ["login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20"]
    code, out = run(*argv, "--connection-file", str(path), "--refresh-mode", "long_lived")
    assert code == 0, out
    assert not store_of(connection).path.exists()  # nothing saved to the store
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    written = json.loads(path.read_text())[CONN_ID]
    extra = json.loads(written["extra"])
    assert written["login"] == sandbox.config.client_id and written["password"] == SECRET
    assert extra["refresh_mode"] == "long_lived" and "token_type" not in extra  # the given mode wins
    assert extra["auth_base_url"] == sandbox.auth_base_url and extra["api_base_url"] == sandbox.api_base_url
    # what the user is told to run: no secret in any argument (Airflow's audit log keeps command lines)
    commands = [shlex.split(line) for line in out.splitlines() if line.startswith("    ") and "://" not in line]
    assert commands == [["airflow", "connections", "import", str(path), "--overwrite"], ["rm", str(path)]]
    assert_no_secret(out, extra["refresh_token"])
    # the written connection works as it is (its refresh token seeds an empty store)
    connection_json = json.dumps({**written, "extra": extra})
    monkeypatch.setenv(CONN_ENV, connection_json)
    reset_process_state()
    ConstantContactHook(CONN_ID).call_json("GET", "/contact_lists")


def test_a_connection_file_for_a_new_connection_needs_the_secret_first(sandbox, browser, tmp_path, capsys):
    path = tmp_path / "new.json"
    argv = ["login", "--conn-id", "cc_brand_new", "--client-id", sandbox.config.client_id, "--no-browser"]
    assert run(*argv, "--connection-file", str(path))[0] == 1
    assert "put it in $CC_CLIENT_SECRET" in capsys.readouterr().err
    assert browser == [] and not path.exists()  # nobody was asked to consent


def test_file_options_without_a_file_are_refused(sandbox, connection, browser, capsys):
    assert run("device", "--conn-id", CONN_ID, "--refresh-mode", "rotating")[0] == 1
    assert "--refresh-mode only go with --connection-file" in capsys.readouterr().err
    assert browser == []


def test_print_is_gone(capsys):
    with pytest.raises(SystemExit):
        run("login", "--print")
    assert "unrecognized arguments: --print" in capsys.readouterr().err


def test_login_without_offline_access_fails_and_says_why(sandbox, connection, browser, capsys):
    code, out = run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--scope", "contact_data")
    assert code == 1
    assert "returned no refresh token" in capsys.readouterr().err
    assert not store_of(connection).path.exists()


def test_a_refused_authorization_is_reported(sandbox, connection, monkeypatch, capsys):
    def refuse(url: str, *args, **kwargs) -> bool:
        from urllib.parse import parse_qs, urlsplit

        state = parse_qs(urlsplit(url).query)["state"][0]
        callback = f"{REDIRECT_URI}?error=access_denied&error_description=The+user+said+no&state={state}"
        threading.Thread(target=lambda: _get(callback), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", refuse)
    code, _ = run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20")
    assert code == 1
    assert "Authorization refused: access_denied: The user said no" in capsys.readouterr().err


def test_a_redirect_with_another_state_is_ignored(sandbox, connection, monkeypatch, capsys):
    def forged(url: str, *args, **kwargs) -> bool:
        threading.Thread(target=lambda: _get(f"{REDIRECT_URI}?code=stolen&state=forged"), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", forged)
    code, _ = run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20")
    assert code == 1
    assert "another state" in capsys.readouterr().err


def test_status_shows_expiry_and_scopes_without_tokens(sandbox, connection, browser):
    assert run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20")[0] == 0
    code, out = run("status", "--conn-id", CONN_ID)
    assert code == 0, out
    assert "refresh_mode rotating" in out and "holds a refresh token" in out
    assert "Access token: expires" in out and "valid for 24.0 h more" in out
    assert "Scopes: contact_data offline_access" in out and "WARNING" not in out
    record = store_of(connection).load()
    assert_no_secret(out, record.refresh_token, record.access_token)

    code, out = run("status", "--conn-id", CONN_ID, "--refresh")  # uses the refresh token: a keep-alive
    assert code == 0 and "Refreshed: the refresh token works." in out
    assert sandbox_stats(sandbox)["refreshes"] == 1
    rotated = store_of(connection).load()
    assert rotated.refresh_token != record.refresh_token
    assert_no_secret(out, record.refresh_token, rotated.refresh_token, rotated.access_token)


def test_status_warns_when_offline_access_is_missing(sandbox, connection):
    now = time.time()
    access = jwt.encode({"exp": int(now + 600), "scp": ["contact_data"], "sub": "someone"}, "k" * 32, "HS256")
    store = store_of(connection)
    held = store.try_lock()
    store.save(TokenRecord("some-refresh-token", access, now + 600, now, sandbox.config.client_id), None)
    held.release()
    code, out = run("status", "--conn-id", CONN_ID)
    assert code == 0
    assert "WARNING: the offline_access scope is missing" in out
    assert "Authorized user: someone" in out


def test_status_of_an_empty_store(sandbox, connection):
    code, out = run("status", "--conn-id", CONN_ID)
    assert code == 1
    assert "empty" in out and "run `login` or `device`" in out


def test_unknown_connection_without_client_id(capsys):
    code, _ = run("status", "--conn-id", "no_such_connection_anywhere")
    assert code == 1
    assert "--client-id" in capsys.readouterr().err


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import resetdb

    resetdb()


def test_login_into_the_default_variable_store(sandbox, connection, browser, airflow_db, monkeypatch):
    conn = {**connection, "extra": {k: v for k, v in connection["extra"].items() if k != "token_store"}}
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    code, out = run("login", "--conn-id", CONN_ID, "--redirect-uri", REDIRECT_URI, "--timeout", "20")
    assert code == 0, out
    assert "to Airflow Variable constant_contact_token__cc_cli" in out
    record = VariableTokenStore(CONN_ID).load()
    assert sandbox.state.refresh_token_owner(record.refresh_token) == sandbox.config.client_id
    code, out = run("status", "--conn-id", CONN_ID)
    assert code == 0 and "Airflow Variable constant_contact_token__cc_cli: holds a refresh token" in out


def _get(url: str) -> None:
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except urllib.error.HTTPError:
        pass
