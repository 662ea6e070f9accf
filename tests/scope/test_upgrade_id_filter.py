"""The id of one upgrade (plugins/plugin_utils/upgrade_id.py, filter stackhop.upgrade.upgrade_id)."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.filter.upgrade_id import upgrade_id
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_id as decide

ENV = {"STACKHOP_UPGRADE_ID": "from-env"}


@pytest.mark.parametrize("explicit, environ, derive, expected, source", [
    # -e stackhop_upgrade_id (or an inventory value) wins over everything
    ("2025.1-dc1", ENV, True, "2025.1-dc1", "stackhop_upgrade_id"),
    ("  2025.1-dc1 ", {}, False, "2025.1-dc1", "stackhop_upgrade_id"),
    # then STACKHOP_UPGRADE_ID (the lab tests, scripts/main.sh, the report callback's export)
    ("", ENV, True, "from-env", "STACKHOP_UPGRADE_ID"),
    (None, ENV, False, "from-env", "STACKHOP_UPGRADE_ID"),
    ("   ", {"STACKHOP_UPGRADE_ID": " from-env\n"}, True, "from-env", "STACKHOP_UPGRADE_ID"),
    # then, for an upgrade or a rollback, one default for the whole region upgrade
    ("", {}, True, "dc1-2024.1-to-2025.1", "default"),
    ("", {"STACKHOP_UPGRADE_ID": ""}, True, "dc1-2024.1-to-2025.1", "default"),
    # a pre-flight, backup or verify run on its own: no id
    ("", {}, False, "", "none"),
])
def test_resolve(explicit, environ, derive, expected, source):
    assert decide.resolve(explicit, environ, "dc1", "2024.1", "2025.1", derive=derive) == (expected, source)


@pytest.mark.parametrize("region, current, target, expected", [
    ("dc1", "2024.1", "2025.1", "dc1-2024.1-to-2025.1"),
    # an inventory without regions: the default the control plane and rollback had
    ("", "2024.1", "2025.1", "2024.1-to-2025.1"),
    (None, "2024.1", "2025.1", "2024.1-to-2025.1"),
    # codenames are the model's numbers: the same id however the release is spelled
    ("dc1", "caracal", "Epoxy", "dc1-2024.1-to-2025.1"),
    # a release the model does not know is taken as it is
    ("dc1", "2024.1", "2099.9", "dc1-2024.1-to-2099.9"),
    # only what a backup set's name allows
    ("Region One/a", "2024.1", "2025.1", "Region-One-a-2024.1-to-2025.1"),
    # no release known: no default
    ("dc1", "", "2025.1", ""),
    ("dc1", "2024.1", None, ""),
])
def test_default(region, current, target, expected):
    assert upgrade_id("", region=region, current=current, target=target, environ={}) == expected


def test_the_filter_reads_the_controllers_environment(monkeypatch):
    monkeypatch.setenv("STACKHOP_UPGRADE_ID", "lab-2024.1-to-2025.1")
    assert upgrade_id("", region="RegionOne", current="2024.1", target="2025.1") == "lab-2024.1-to-2025.1"
    assert upgrade_id("cli", current="2024.1", target="2025.1") == "cli"
    monkeypatch.delenv("STACKHOP_UPGRADE_ID")
    assert upgrade_id("", region="RegionOne", current="2024.1", target="2025.1") == "RegionOne-2024.1-to-2025.1"


@pytest.mark.parametrize("derive", ["false", "False", "no", "0", "", False])
def test_derive_from_extra_vars_strings(derive):
    assert upgrade_id("", region="dc1", current="2024.1", target="2025.1", derive=derive, environ={}) == ""


@pytest.mark.parametrize("derive", ["true", "yes", "1", True])
def test_derive_true(derive):
    assert upgrade_id("", region="dc1", current="2024.1", target="2025.1", derive=derive, environ={}) \
        == "dc1-2024.1-to-2025.1"
