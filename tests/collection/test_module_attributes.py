"""Every module states its check mode and diff mode support (ansible-doc's ATTRIBUTES).

The descriptions come from the stackhop.upgrade.attributes doc fragment; each module says
how far it supports the mode, with details unless the answer is plain none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

MODULES = sorted((Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py"))


def documentation(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "DOCUMENTATION":
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no DOCUMENTATION" % path.name)


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_declares_check_and_diff_mode(path):
    doc = documentation(path)
    assert "stackhop.upgrade.attributes" in doc.get("extends_documentation_fragment", [])
    attributes = doc["attributes"]
    for name in ("check_mode", "diff_mode"):
        entry = attributes[name]
        assert entry["support"] in ("full", "partial", "none"), (name, entry)
        assert "description" not in entry, "the fragment describes %s; say it in details" % name
        if entry["support"] != "none":
            assert entry.get("details"), "%s: say what the module does in %s" % (path.stem, name)
