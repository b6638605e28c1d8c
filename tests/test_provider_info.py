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
