"""``python -m cc_sandbox``: start-up banner, a working token endpoint, clean SIGTERM exit."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from cc_sandbox.__main__ import behaviour, build_parser
from cc_sandbox.behaviour import BEHAVIOUR_PROFILES

REPO = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "sandbox") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "cc_sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def read_until_ready(proc: subprocess.Popen[str], seconds: float = 15.0) -> list[str]:
    """Collect stdout lines up to the ready line (a thread reads, so the deadline always holds)."""
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout = proc.stdout

    def pump() -> None:
        for line in iter(stdout.readline, ""):
            lines.put(line.rstrip("\n"))
            if line.startswith("Sandbox ready at "):
                return
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if line.startswith("Sandbox ready at "):
            return seen
    raise AssertionError(f"no ready line; got {seen!r}")


def test_cli_serves_until_sigterm(tmp_path):
    with start(
        "--port",
        "0",
        "--access-token-ttl",
        "60",
        "--client-id",
        "cli-id",
        "--client-secret",
        "cli-secret",
        "--refresh-token",
        "cli-refresh",
    ) as proc:
        try:
            lines = read_until_ready(proc)
            url = lines[-1].removeprefix("Sandbox ready at ")
            assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
            export = next(line for line in lines if "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT=" in line)
            conn = json.loads(shlex.split(export.split("=", 1)[1])[0])
            assert conn["conn_type"] == "constant_contact"
            assert (conn["login"], conn["password"]) == ("cli-id", "cli-secret")
            assert conn["extra"] == {
                "refresh_token": "cli-refresh",
                "api_base_url": f"{url}/v3",
                "auth_base_url": f"{url}/oauth2/default/v1",
            }
            assert any("cli-secret" in line for line in lines)  # the default account is printed
            response = requests.post(
                f"{conn['extra']['auth_base_url']}/token",
                auth=(conn["login"], conn["password"]),
                data={"grant_type": "refresh_token", "refresh_token": "cli-refresh"},
                timeout=10,
            )
            assert response.status_code == 200
            assert response.json()["expires_in"] == 60
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert proc.stdout is not None and "Sandbox stopped." in proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_rejects_bad_settings():
    with start("--port", "0", "--activity-rows-per-second", "0") as proc:
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2
        assert "activity_rows_per_second" in err


def test_cli_limits_are_on_by_default_and_the_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "cli.sqlite"
    for run in range(2):
        with start("--port", "0", "--state", str(state)) as proc:
            try:
                lines = read_until_ready(proc)
                url = lines[-1].removeprefix("Sandbox ready at ")
                assert any(line.startswith("Limits: 4 requests/s, 10,000 a day, token endpoint 1/s") for line in lines)
                assert any(str(state) in line for line in lines)
                token = requests.post(
                    f"{url}/oauth2/default/v1/token",
                    auth=("cc-sandbox-client-id", "cc-sandbox-client-secret"),
                    data={"grant_type": "refresh_token", "refresh_token": "cc-sandbox-refresh-token"},
                    timeout=10,
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                if run == 0:
                    created = requests.post(
                        f"{url}/v3/contact_lists", json={"name": "Persisted"}, headers=headers, timeout=10
                    )
                    assert created.status_code == 201
                    statuses = [
                        requests.get(f"{url}/v3/contacts", headers=headers, timeout=10).status_code for _ in range(6)
                    ]
                    assert 429 in statuses  # 4 a second, faithful by default
                else:
                    lists = requests.get(f"{url}/v3/contact_lists", headers=headers, timeout=10).json()["lists"]
                    assert [lst["name"] for lst in lists] == ["Persisted"]
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=15) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def test_cli_no_limits():
    with start("--port", "0", "--no-limits") as proc:
        try:
            lines = read_until_ready(proc)
            assert any(line.startswith("Limits: no per-second limit, no daily quota, no token limit") for line in lines)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def test_cli_behaviour_switches_start_the_sandbox_with_them():
    with start("--port", "0", "--no-limits", "--profile", "opaque", "--activity-errors", "free_text") as proc:
        try:
            lines = read_until_ready(proc)
            (line,) = [line for line in lines if line.startswith("Behaviour: ")]
            assert "activity_errors_style=free_text" in line  # the flag wins over the profile
            assert "bad_date_handling=drop_field" in line and "queue_full_error_key=throttled" in line
            url = lines[-1].removeprefix("Sandbox ready at ")
            config = requests.get(f"{url}/__sandbox__/config", timeout=10).json()
            assert {name: config[name] for name in BEHAVIOUR_PROFILES["opaque"]} == {
                **BEHAVIOUR_PROFILES["opaque"],
                "activity_errors_style": "free_text",
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def test_cli_switch_flags_map_to_settings():
    args = build_parser().parse_args(
        ["--person-count", "imported_only", "--list-name-case", "insensitive", "--queue-full-error-key", "busy"]
    )
    assert behaviour(args) == {
        "person_count_mode": "imported_only",
        "list_name_case": "insensitive",
        "queue_full_error_key": "busy",
    }
    assert behaviour(build_parser().parse_args([])) == {}  # the defaults: SandboxConfig's


def test_cli_rejects_a_bad_switch_value():
    with start("--port", "0", "--queue-full-error-key", "quota_exceeded") as proc:
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2 and "queue_full_error_key" in err
    with start("--port", "0", "--timestamp-style", "sometimes") as proc:
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2 and "invalid choice" in err
