"""SandboxServer: binding, URLs, start/stop, and the plugin's connection helper."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from cc_sandbox import SandboxConfig, SandboxServer, create_app
from cc_sandbox.testing import airflow_connection_json


def test_port_0_binds_a_free_port_and_urls_follow():
    with SandboxServer() as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.api_base_url == server.url + "/v3"
        assert server.auth_base_url == server.url + "/oauth2/default/v1"
        assert requests.get(server.url + "/__sandbox__/health", timeout=10).json() == {"status": "ok"}


def test_two_servers_have_separate_ports_and_state():
    with SandboxServer() as one, SandboxServer() as two:
        assert one.port != two.port
        assert one.state is not two.state


def test_stop_releases_the_port_for_a_fixed_port_restart():
    server = SandboxServer().start()
    port = server.port
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/__sandbox__/health", timeout=2)
    with SandboxServer(port=port) as again:
        assert again.port == port


def test_a_busy_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="Cannot bind"):
            SandboxServer(port=taken.getsockname()[1]).start()


def test_starting_twice_is_an_error():
    with SandboxServer() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_url_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not started"):
        _ = SandboxServer().url


def test_create_app_keeps_its_state_on_the_app():
    config = SandboxConfig(client_id="other")
    app = create_app(config)
    assert app.state.sandbox.config is config
    assert "other" in app.state.sandbox.clients


@pytest.mark.parametrize(
    "changes",
    [
        {"refresh_token_mode": "sometimes"},
        {"access_token_ttl": 0},
        {"activity_rows_per_second": 0},
        {"client_secret": ""},
        {"max_lists": 0},
    ],
)
def test_config_rejects_bad_values(changes):
    with pytest.raises(ValueError):
        SandboxConfig(**changes)


def test_airflow_connection_json_points_at_the_server(cc_sandbox):
    conn = json.loads(airflow_connection_json(cc_sandbox))
    assert conn == {
        "conn_type": "constant_contact",
        "login": cc_sandbox.config.client_id,
        "password": cc_sandbox.config.client_secret,
        "extra": {
            "refresh_token": cc_sandbox.config.refresh_token,
            "api_base_url": cc_sandbox.api_base_url,
            "auth_base_url": cc_sandbox.auth_base_url,
            "requests_per_second": 0,  # the session sandbox enforces no rate limit, so the client need not pace
        },
    }


def test_the_sandbox_imports_neither_airflow_nor_the_provider():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "import cc_sandbox.__main__, cc_sandbox.testing\n"
        "from cc_sandbox import SandboxServer, create_app\n"
        "create_app()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('airflow', 'cc_provider'))))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
