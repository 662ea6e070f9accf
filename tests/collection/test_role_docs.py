"""Every role entry point (roles/*/meta/argument_specs.yml) has a short_description and a
description, which ansible-doc shows and antsibull-docs lint-collection-docs requires, and
every O(option) its description names is an option of that entry point.

The full lint is not run here (antsibull-docs is not in requirements.txt and takes minutes on
two cores); run it by hand from a venv that has antsibull-docs and ansible-core:
``antsibull-docs lint-collection-docs --plugin-docs build/collections/ansible_collections/stackhop/upgrade``.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# roles/keystone is being changed elsewhere; its three entry points get descriptions there.
KNOWN_MISSING = set()


def entry_points():
    for path in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        for name, spec in yaml.safe_load(path.read_text())["argument_specs"].items():
            yield path.parts[-3], name, spec


def test_every_entry_point_has_a_short_description_and_a_description():
    missing = {(role, name) for role, name, spec in entry_points()
               if not spec.get("short_description") or not spec.get("description")}
    assert missing <= KNOWN_MISSING, "describe these role entry points: %s" % sorted(missing - KNOWN_MISSING)


def test_descriptions_name_only_options_of_their_entry_point():
    for role, name, spec in entry_points():
        text = " ".join(spec.get("description") or [])
        for option in re.findall(r"O\(([a-z0-9_]+)", text):
            assert option in (spec.get("options") or {}), \
                "roles/%s entry point %s names O(%s), which is not one of its options" % (role, name, option)
