"""Fixtures of the browser test: the sandbox, the Airflow API server and headless Chromium.

The test runs with ``make test-ui`` (which sets ``CC_UI_TESTS=1`` after installing Chromium, chromedriver
and the ``ui`` extra); a plain ``make test`` reports it as skipped. Every process started here is
stopped by its PID: SIGTERM, then SIGKILL after a timeout, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cc_sandbox.server import SandboxServer
from tests.processes import free_port, stop_process, tail

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
LAUNCHER = Path(__file__).resolve().parent / "api_server.py"
START_TIMEOUT = 120.0  # seconds for `airflow db migrate` and for the API server to answer
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # This network is closed: no background calls to Google's services.
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--lang=en-US",
    "--window-size=1400,1300",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ui: drives the Airflow UI in headless Chromium (run with `make test-ui`)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CC_UI_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="browser test of the connection form: run `make test-ui` (it installs Chromium)")
    for item in items:
        if "ui" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # lets the browser fixture screenshot a failure
    return report


# -- processes ---------------------------------------------------------------------------------------


def airflow_env(home: Path) -> dict[str, str]:
    """The environment of the Airflow processes: ours, minus any Airflow settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.lstrip("_").startswith("AIRFLOW")}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        CC_UI_STOCK_TEST_FLAG=str(home / "stock-connection-test"),
        CC_UI_BACKPORT_STATUS=str(home / "backports.json"),
        PYTHONUNBUFFERED="1",
    )
    return env


def run_to_end(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> None:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd[1:])} took more than {timeout:.0f} s; log:\n{tail(log)}")
    finally:
        stop_process(proc)
    if code != 0:
        pytest.fail(f"{' '.join(cmd[1:])} exited with {code}; log:\n{tail(log)}")


def http_json(url: str, token: str | None = None, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class AirflowUI:
    """A running API server: its URL, AIRFLOW_HOME and which upstream fix the test applied to it."""

    url: str
    home: Path
    log: Path
    backported_port_fix: bool

    @property
    def stock_test_flag(self) -> Path:
        """While this file exists the API server tests connections exactly as the stock Airflow does."""
        return self.home / "stock-connection-test"

    def api(self, path: str) -> Any:
        """GET ``/api/v2/<path>`` with a token of the (all-admins) simple auth manager."""
        token = http_json(f"{self.url}/auth/token")["access_token"]
        return http_json(f"{self.url}/api/v2/{path}", token)


# -- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/ui/``, emptied of the screenshots of an earlier run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Chromium and chromedriver; skip only when `make test-ui` could not install them."""
    browser = os.environ.get("CC_UI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CC_UI_CHROMEDRIVER") or shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
    reason = os.environ.get("CC_UI_CHROMIUM_UNAVAILABLE")
    if reason:
        pytest.skip(f"{missing} not installed and cannot be installed here: {reason}")
    pytest.fail(
        f"{missing} not found on PATH: run `make test-ui`, which installs Debian's chromium and chromium-driver"
    )


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """The Constant Contact API sandbox (a thread of this process), with its default account."""
    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture(scope="session")
def airflow_ui(artifacts: Path) -> Iterator[AirflowUI]:
    """A migrated metadata DB in a fresh AIRFLOW_HOME and ``airflow api-server`` on a free loopback port.

    Only the API server is needed: the UI's "Test Connection" runs the hook's ``test_connection()``
    in the API server (``POST /api/v2/connections/test``); no scheduler, triggerer or DAG processor.
    """
    home = Path(tempfile.mkdtemp(prefix="cc-provider-ui-airflow-home-"))
    env = airflow_env(home)
    log = artifacts / "airflow-api-server.log"
    try:
        run_to_end(
            [sys.executable, "-m", "airflow", "db", "migrate"], env, artifacts / "airflow-db-migrate.log", START_TIMEOUT
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, str(LAUNCHER), "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the API server exited with {proc.returncode}; log:\n{tail(log)}")
                try:
                    if http_json(f"{url}/api/v2/monitor/health", timeout=2)["metadatabase"]["status"] == "healthy":
                        break
                except (OSError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the API server did not answer within {START_TIMEOUT:.0f} s; log:\n{tail(log)}")
                time.sleep(0.25)
            backports = json.loads((home / "backports.json").read_text())
            yield AirflowUI(url=url, home=home, log=log, backported_port_fix=backports["port-0-test-connection"])
        finally:
            stop_process(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def browser(chromium: tuple[str, str], artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium driven by chromedriver; a screenshot ``failure.png`` when the test fails."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run `make test-ui`, which installs the `ui` extra")
    binary, driver_path = chromium
    profile = tempfile.mkdtemp(prefix="cc-provider-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in [*CHROMIUM_ARGS, f"--user-data-dir={profile}"]:
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    service = Service(
        executable_path=driver_path,
        log_output=str(artifacts / "chromedriver.log"),
        popen_kw={"start_new_session": True},
    )
    driver = None
    try:
        try:
            driver = webdriver.Chrome(options=options, service=service)
        except Exception as exc:  # the browser is installed but does not start: a failure, not a skip
            pytest.fail(f"Chromium ({binary}) did not start under chromedriver ({driver_path}): {exc}")
        yield driver
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            driver.save_screenshot(str(artifacts / "failure.png"))
    finally:
        try:
            if driver is not None:
                driver.quit()
        finally:
            if service.process is not None:
                stop_process(service.process)
            shutil.rmtree(profile, ignore_errors=True)
