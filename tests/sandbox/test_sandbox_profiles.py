"""Behaviour profiles: named sets of switches, how a test or a whole suite runs under them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cc_sandbox import SandboxConfig
from cc_sandbox.behaviour import BEHAVIOUR_PROFILES, SWITCHES
from cc_sandbox.testing import PROFILE_ENV, admin_call, session_profile, set_behaviour


def test_profiles_together_use_every_variant_of_every_switch():
    for name, variants in SWITCHES.items():
        used = {profile[name] for profile in BEHAVIOUR_PROFILES.values()}
        assert used == set(variants), name
    keys = {*SWITCHES, "queue_full_error_key"}
    assert all(set(profile) == keys for profile in BEHAVIOUR_PROFILES.values())
    assert len({profile["queue_full_error_key"] for profile in BEHAVIOUR_PROFILES.values()}) == len(BEHAVIOUR_PROFILES)
    defaults = SandboxConfig()
    assert {name: getattr(defaults, name) for name in keys} == BEHAVIOUR_PROFILES["documented"]  # the default


def test_set_behaviour_applies_a_profile_and_reset_restores_the_start_up_one(api, sandbox):
    start_up = admin_call(sandbox, "GET", "config")
    config = set_behaviour(sandbox, "opaque")
    assert {name: config[name] for name in BEHAVIOUR_PROFILES["opaque"]} == BEHAVIOUR_PROFILES["opaque"]
    assert set_behaviour(sandbox, {"list_name_case": "sensitive"})["list_name_case"] == "sensitive"
    with pytest.raises(ValueError, match="Unknown behaviour profile"):
        set_behaviour(sandbox, "nonsense")
    admin_call(sandbox, "POST", "reset")
    assert admin_call(sandbox, "GET", "config") == start_up


def test_cc_behaviour_profile_applies_each_profile(cc_behaviour_profile, sandbox):
    config = admin_call(sandbox, "GET", "config")
    assert {name: config[name] for name in BEHAVIOUR_PROFILES[cc_behaviour_profile]} == BEHAVIOUR_PROFILES[
        cc_behaviour_profile
    ]


class _Options:
    """A stand-in for ``pytest.Config`` that knows one option."""

    def __init__(self, profile: str | None) -> None:
        self.profile = profile

    def getoption(self, name: str, default: object = None) -> object:
        assert name == "cc_sandbox_profile"
        return self.profile if self.profile is not None else default


def test_the_session_profile_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert session_profile(_Options(None)) == "documented"
    monkeypatch.setenv(PROFILE_ENV, "opaque")
    assert session_profile(_Options(None)) == "opaque"
    assert session_profile(_Options("free_text")) == "free_text"
    monkeypatch.setenv(PROFILE_ENV, "nonsense")
    with pytest.raises(pytest.UsageError, match="CC_SANDBOX_PROFILE='nonsense'"):
        session_profile(_Options(None))


PLUGIN_TEST = """
def test_profile(cc_sandbox_reset):
    from cc_sandbox.testing import admin_call

    print("list_name_case=" + admin_call(cc_sandbox_reset, "GET", "config")["list_name_case"])
"""


@pytest.mark.parametrize(
    "env, args, expected",
    [
        ({}, [], "sensitive"),
        ({PROFILE_ENV: "opaque"}, [], "insensitive"),
        ({}, ["--cc-sandbox-profile", "opaque"], "insensitive"),
    ],
)
def test_a_whole_suite_runs_under_the_chosen_profile(tmp_path, env, args, expected):
    # No conftest.py: the fixtures come from the plugin's pytest11 entry point alone.
    (tmp_path / "test_profile.py").write_text(PLUGIN_TEST)
    environ = {k: v for k, v in os.environ.items() if k != PROFILE_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args, "test_profile.py"],
        cwd=tmp_path,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"list_name_case={expected}" in result.stdout
