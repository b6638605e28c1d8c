"""Test set-up: an isolated AIRFLOW_HOME (set before Airflow is imported) and the sandbox fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="cc-provider-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["CC_EXAMPLE_POLL_SECONDS"] = "1"

import json  # noqa: E402

import pytest  # noqa: E402

pytest_plugins = ["cc_provider.sandbox.testing"]

CONN_ENV = "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT"


@pytest.fixture
def cc_connection(cc_sandbox, monkeypatch):
    """Point the default Constant Contact connection at a clean sandbox; return its settings."""
    from cc_provider.sandbox.testing import airflow_connection_json

    reset_sandbox(cc_sandbox)
    value = airflow_connection_json(cc_sandbox)
    monkeypatch.setenv(CONN_ENV, value)
    return json.loads(value)


def reset_sandbox(server) -> None:
    """Clear the sandbox's state between tests through its admin API."""
    import requests

    requests.post(f"{server.url}/__sandbox__/reset", timeout=10).raise_for_status()
