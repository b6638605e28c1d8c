"""README.md quotes the example DAGs as they are, and names the commands it promises."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_dag_excerpts_match_the_dag_files():
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "readme_dags.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_every_example_dag_is_quoted():
    readme = (REPO / "README.md").read_text()
    for dag_file in sorted((REPO / "dags").glob("*.py")):
        assert f"<!-- dag: dags/{dag_file.name} " in readme, dag_file.name
