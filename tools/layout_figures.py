"""
Figures of the package's layout: `python tools/layout_figures.py` (or `make layout`).

Static, from the source of the provider and of the sandbox: modules (and those of ``hooks/``), the
longest module, lines, and the import cycles (every ``import`` statement, at any depth, ``if
TYPE_CHECKING:`` ones included: a type-only cycle is still two modules that need each other). Dynamic:
one deferrable CSV import of 40 rows, run with ``dag.test()`` against a sandbox on loopback (operator ->
POST -> trigger -> ``execute_complete``), counting the provider modules whose code ran during the task
(modules merely imported are counted apart).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cc_provider"
SANDBOX = ROOT / "sandbox" / "cc_sandbox"
READY = "Sandbox ready at "


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _imports(tree: ast.AST, current: str, is_package: bool, modules: dict[str, Path]) -> Iterator[str]:
    """
    Yield the modules the import statements of a module name (function-level and type-only ones too).

    ``from pkg import name`` depends on the module ``pkg.name`` when there is one, else on ``pkg``.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = current.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set(_imports(tree, name, path.name == "__init__.py", modules))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def static_figures() -> dict[str, object]:
    modules = package_modules()
    lines = {name: len(path.read_text().splitlines()) for name, path in modules.items()}
    longest = max(lines, key=lambda name: lines[name])
    inner_sandbox = {n for n in modules if n.startswith("cc_provider.sandbox")}
    sandbox = package_modules(SANDBOX) if SANDBOX.is_dir() else {}
    sandbox_lines = {name: len(path.read_text().splitlines()) for name, path in sandbox.items()}
    longest_sandbox = max(sandbox_lines, key=lambda name: sandbox_lines[name], default=None)
    return {
        "modules": len(modules),
        "modules in hooks/": sum(1 for n in modules if n.startswith("cc_provider.hooks")),
        "import cycles": cycles(import_graph(modules)),
        "longest module": f"{modules[longest].relative_to(ROOT)} ({lines[longest]} lines)",
        "package lines": sum(lines.values()),
        "package lines without an inner sandbox": sum(v for n, v in lines.items() if n not in inner_sandbox),
        "sandbox package: modules, lines": (len(sandbox), sum(sandbox_lines.values())),
        "sandbox package: import cycles": cycles(import_graph(sandbox)),
        "sandbox package: longest module": longest_sandbox
        and f"{sandbox[longest_sandbox].relative_to(ROOT)} ({sandbox_lines[longest_sandbox]} lines)",
    }


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    # the activity starts after 2 s, so the task's first look finds it pending and it defers to the trigger
    command = [sys.executable, "-m", "cc_sandbox", "--port", "0", "--activity-start-delay", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(READY):
            return proc, line[len(READY) :].strip()
    raise SystemExit("The sandbox did not start.")


class ModuleRecorder:
    """Record which files under the package run code, in every thread, while active."""

    def __init__(self) -> None:
        self.ran: set[str] = set()
        self.prefix = str(PACKAGE) + os.sep

    def __call__(self, frame, event, arg):  # noqa: ANN001, ANN204 - the sys.setprofile signature
        if event == "call" and frame.f_code.co_name != "<module>":
            filename = frame.f_code.co_filename
            if filename.startswith(self.prefix):
                self.ran.add(filename)

    def __enter__(self) -> ModuleRecorder:
        threading.setprofile(self)
        sys.setprofile(self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


DAG_FILE = """
import os

import pendulum
from airflow.sdk import DAG

from cc_provider.operators.csv_import import ConstantContactImportCsvOperator

with DAG("layout_figures_csv_import", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    ConstantContactImportCsvOperator(
        task_id="import_csv",
        path=os.environ["LAYOUT_FIGURES_CSV"],
        list_names=["Layout figures"],
        rejects_path=os.environ["LAYOUT_FIGURES_CSV"] + ".rejects.csv",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.5,
    )
"""


def one_csv_import(dags: Path) -> dict[str, object]:
    """Run a one-task DAG (a deferrable CSV import of 40 rows) with ``dag.test()``; return what ran."""
    source = dags.parent / "contacts.csv"
    rows = ["email,first_name"] + [f"user{i}@example.com,User {i}" for i in range(38)] + ["not-an-email,Bad", ","]
    source.write_text("\n".join(rows) + "\n")
    os.environ["LAYOUT_FIGURES_CSV"] = str(source)
    dag_file = dags / "layout_figures_csv_import.py"
    dag_file.write_text(DAG_FILE)
    before = {n for n in sys.modules if n.startswith("cc_provider")}
    spec = importlib.util.spec_from_file_location("layout_figures_csv_import", dag_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with ModuleRecorder() as recorder:
        run = module.dag.test()
    imported = {n for n in sys.modules if n.startswith("cc_provider")} - before
    ran = sorted(str(Path(f).relative_to(ROOT)) for f in recorder.ran)
    return {"state": str(run.state), "ran": ran, "imported by the run": sorted(imported)}


def main() -> int:
    figures = static_figures()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        dags = home / "dags"
        dags.mkdir()
        sandbox, url = start_sandbox()
        conn = {
            "conn_type": "constant_contact",
            "login": "cc-sandbox-client-id",
            "password": "cc-sandbox-client-secret",
            "extra": {
                "refresh_token": "cc-sandbox-refresh-token",
                "api_base_url": f"{url}/v3",
                "auth_base_url": f"{url}/oauth2/default/v1",
            },
        }
        os.environ.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT": json.dumps(conn),
            }
        )
        try:
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
            started = time.time()
            run = one_csv_import(dags)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=15)
    deferred = "cc_provider/triggers/activity.py" in run["ran"]
    how = "deferred" if deferred else "NOT deferred"
    print(f"One deferrable CSV import ({run['state']}, {how}, {time.time() - started:.1f} s):")
    print(f"  package modules whose code ran: {len(run['ran'])}")
    for path in run["ran"]:
        print(f"    {path}")
    print(f"  package modules imported by the run: {len(run['imported by the run'])}")
    for name, value in figures.items():
        print(f"{name}: {value if not isinstance(value, list) else (len(value), value)}")
    return 0 if run["state"].endswith("success") and deferred else 1


if __name__ == "__main__":
    sys.exit(main())
