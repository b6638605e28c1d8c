"""
The package's layers, read from its import statements: each module imports only modules of lower layers.

The map (README "Layout of the code"): the auth CLI -> operators, sensors -> waiting -> triggers -> the
hook -> its call flow -> the token keeper -> retry and pacing -> credential stores -> HTTP messages and
the pure modules (activity classification, contacts, links) -> errors. A new import that runs the other
way (say, the sensor importing an operator, or the hook importing the trigger) fails here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tools.layout_figures import PACKAGE, SANDBOX, cycles, import_graph, package_modules

#: (rank, module prefixes): a module imports only modules of a lower or its own rank (the longest prefix wins)
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (10, ("cc_provider.auth",)),  # the CLI a person runs once: python -m cc_provider.auth
    (9, ("cc_provider.operators", "cc_provider.sensors", "cc_provider.transfers", "cc_provider.staging")),
    (8, ("cc_provider.waiting",)),
    (7, ("cc_provider.triggers",)),
    (6, ("cc_provider.hooks", "cc_provider.hooks.constant_contact")),
    (5, ("cc_provider.hooks._connection",)),
    (4, ("cc_provider.hooks._oauth",)),
    (3, ("cc_provider.hooks._retry", "cc_provider.hooks._budget")),
    (2, ("cc_provider.credential_stores",)),
    (1, ("cc_provider.hooks._http", "cc_provider.activity", "cc_provider.contacts", "cc_provider.links")),
    (1, ("cc_provider", "cc_provider.provider_info")),
    (1, ("cc_provider.storage",)),  # local paths, URLs and ObjectStoragePath: read and written streamed
    (0, ("cc_provider.exceptions",)),
]


def rank(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, rank)
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    assert best is not None, f"{module} is in no layer: add it to LAYERS (and to README's map)"
    return best[1]


MODULES = package_modules(PACKAGE)
GRAPH = import_graph(MODULES)


def test_every_module_has_a_layer():
    for module in MODULES:
        rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_look_down(module):
    upward = [target for target in sorted(GRAPH[module]) if rank(target) > rank(module)]
    assert upward == [], f"{module} (layer {rank(module)}) imports a higher layer: {upward}"


def test_no_import_cycles():
    assert cycles(GRAPH) == []
    assert cycles(import_graph(package_modules(SANDBOX))) == []


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "contacts").glob("*.py")), ids=lambda p: p.name)
def test_contacts_is_pure(path):
    """No HTTP, no Airflow: the contacts package uses the standard library and itself only."""
    assert _third_party(path) <= {"cc_provider"}
    assert all(t.startswith("cc_provider.contacts") for t in GRAPH[module_name(path)])


def module_name(path: Path) -> str:
    return next(name for name, p in MODULES.items() if p == path)


@pytest.mark.parametrize("path", sorted(SANDBOX.rglob("*.py")), ids=lambda p: p.name)
def test_the_sandbox_imports_nothing_of_the_provider(path):
    assert not _third_party(path) & {"cc_provider", "airflow"}


def test_the_sensor_does_not_import_the_operators():
    """Operators and sensors share the waiting component below them, not each other's modules."""
    for module in MODULES:
        if module.startswith("cc_provider.sensors"):
            assert not {t for t in GRAPH[module] if t.startswith("cc_provider.operators")}, module
        if module.startswith("cc_provider.operators"):
            assert not {t for t in GRAPH[module] if t.startswith("cc_provider.sensors")}, module
