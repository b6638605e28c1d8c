"""The distributed test runs with ``make test-distributed`` (which installs Redis, PostgreSQL and the
``distributed-test`` extra, then sets ``CC_DISTRIBUTED_TESTS=1``); a plain ``make test`` skips it."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "distributed: a real CeleryExecutor deployment (`make test-distributed`)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CC_DISTRIBUTED_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="a real CeleryExecutor deployment: run `make test-distributed`")
    for item in items:
        if "distributed" in item.keywords:
            item.add_marker(skip)
