"""Test set-up: an isolated AIRFLOW_HOME (set before Airflow is imported).

The sandbox fixtures (``cc_sandbox``, ``cc_sandbox_connection``, ...) come from the ``cc_sandbox`` pytest
plugin, which the ``cc-sandbox`` distribution registers through its ``pytest11`` entry point.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="cc-provider-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
# The example DAGs, and DAGs that only tests run, as two bundles that dag.test() syncs.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 0},
        }
        for name, path in (("dags-folder", REPO / "dags"), ("test-dags", REPO / "tests" / "dags"))
    ]
)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["CC_EXAMPLE_POLL_SECONDS"] = "1"

import pytest  # noqa: E402


@pytest.fixture
def cc_connection(cc_sandbox_connection: str) -> dict:
    """Point the default Constant Contact connection at a clean sandbox; return its fields."""
    return json.loads(cc_sandbox_connection)


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh ``memory://`` bucket (fsspec's in-process object store), removed afterwards."""
    import fsspec

    name = f"cc-test-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)
