"""tests/lib/tiers.py: which rehearsals STACKHOP_REHEARSAL selects, and the fate of a test
that needs root when the run is not root."""

from __future__ import annotations

import pytest

from tests.lib.tiers import ci_enabled, rehearsal_selected, root_verdict


@pytest.mark.parametrize("selection, selected", [
    (None, False), ("", False), ("fast-forward", False), ("control-plane", True),
    ("fast-forward, control-plane", True), ("all", True), ("control", False)])
def test_rehearsal_selected(selection, selected):
    assert rehearsal_selected("control-plane", selection) is selected


@pytest.mark.parametrize("environ, ci", [
    ({}, False), ({"CI": "true"}, True), ({"CI": "True"}, True), ({"CI": "1"}, True),
    ({"CI": "false"}, False), ({"CI": ""}, False)])
def test_ci_enabled(environ, ci):
    assert ci_enabled(environ) is ci


def test_root_verdict():
    assert root_verdict(0, ci=True) == "run"
    assert root_verdict(0, ci=False) == "run"
    assert root_verdict(1000, ci=False) == "skip"
    # in CI a skip would pass a run that never touched OVS, iptables or MariaDB
    assert root_verdict(1000, ci=True) == "fail"
