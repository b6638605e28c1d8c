"""The provider's metadata is valid for Airflow and every dotted path in it imports."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema
import pytest

from cc_provider import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def _import_dotted(path: str) -> object:
    module, _, attr = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module), attr)


def test_provider_info_matches_airflow_schema():
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_types_match_provider_yaml_schema():
    full = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    schema = {**full["properties"]["connection-types"], "definitions": full.get("definitions", {})}
    jsonschema.validate(get_provider_info()["connection-types"], schema)


def test_package_name_is_the_distribution_name():
    from importlib.metadata import distribution

    assert get_provider_info()["package-name"] == distribution("airflow-provider-constant-contact").metadata["Name"]


def _dotted_paths() -> list[str]:
    info = get_provider_info()
    paths = [
        m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]
    ]
    paths += [t["python-module"] for t in info["transfers"]]
    paths += [c["hook-class-name"] for c in info["connection-types"]]
    paths += info["extra-links"]
    return paths


@pytest.mark.parametrize("dotted", _dotted_paths())
def test_every_listed_path_imports(dotted):
    assert _import_dotted(dotted) is not None


def test_providers_manager_sees_hook_and_connection_type():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "airflow-provider-constant-contact" in ProvidersManager().providers
    hook_info = ProvidersManagerTaskRuntime().hooks["constant_contact"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "cc_provider.hooks.constant_contact.ConstantContactHook"
    assert hook_info.connection_id_attribute_name == "constant_contact_conn_id"


def test_hook_declares_discoverable_attributes():
    from cc_provider.hooks.constant_contact import ConstantContactHook

    info = get_provider_info()["connection-types"][0]
    assert ConstantContactHook.conn_type == info["connection-type"] == "constant_contact"
    assert ConstantContactHook.default_conn_name == "constant_contact_default"
    assert ConstantContactHook.hook_name == info["hook-name"]
    assert info["conn-fields"]["refresh_token"]["schema"]["format"] == "password"


def _classes_defined_in_the_package() -> list[type]:
    """Every class defined in a module of ``cc_provider``."""
    import inspect
    import pkgutil

    import cc_provider

    classes: list[type] = []
    for info in pkgutil.walk_packages(cc_provider.__path__, "cc_provider."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        classes += [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == info.name]
    return classes


def test_every_hook_operator_sensor_trigger_and_link_is_listed():
    """Metadata that cannot drift: a new class in a module the provider info does not name fails here."""
    import inspect

    from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    info = get_provider_info()

    def modules(section: str) -> set[str]:
        return {m for entry in info[section] for m in entry["python-modules"]}

    missing = []
    for cls in _classes_defined_in_the_package():
        if inspect.isabstract(cls):
            continue
        if issubclass(cls, BaseSensorOperator):
            listed = cls.__module__ in modules("sensors")
        elif issubclass(cls, BaseOperator):  # an operator, or a transfer (listed once, as Airflow's own are)
            listed = cls.__module__ in modules("operators") | {t["python-module"] for t in info["transfers"]}
        elif issubclass(cls, BaseTrigger):
            listed = cls.__module__ in modules("triggers")
        elif issubclass(cls, BaseHook):
            listed = cls.__module__ in modules("hooks")
        elif issubclass(cls, BaseOperatorLink):
            listed = f"{cls.__module__}.{cls.__qualname__}" in info["extra-links"]
        else:
            continue
        if not listed:
            missing.append(f"{cls.__module__}.{cls.__qualname__}")
    assert missing == [], f"not in get_provider_info(): {missing}"


def test_the_walk_finds_every_kind():
    """The test above looks at real classes: the walk finds the provider's own of each kind."""
    names = {c.__name__ for c in _classes_defined_in_the_package()}
    assert {
        "ConstantContactHook",
        "ConstantContactImportCsvOperator",
        "ConstantContactActivitySensor",
        "ConstantContactActivityTrigger",
        "ConstantContactListLink",
    } <= names
