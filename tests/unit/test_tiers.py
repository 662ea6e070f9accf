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


def test_wait_for_quiet_without_the_variable_returns_at_once():
    from tests.lib.tiers import wait_for_quiet
    assert wait_for_quiet({}, sleep=lambda s: pytest.fail("slept")) == 0.0


def test_wait_for_quiet_polls_until_the_file_appears():
    from tests.lib.tiers import wait_for_quiet
    looks = iter([False, False, True])
    slept = []
    waited = wait_for_quiet({"STACKHOP_QUIET_FILE": "/x"}, poll=5, sleep=slept.append,
                            exists=lambda p: next(looks))
    assert waited == 10 and slept == [5, 5]


def test_wait_for_quiet_gives_up_after_its_timeout():
    from tests.lib.tiers import wait_for_quiet
    with pytest.raises(TimeoutError, match="STACKHOP_QUIET_FILE"):
        wait_for_quiet({"STACKHOP_QUIET_FILE": "/x"}, timeout=10, poll=5, sleep=lambda s: None,
                       exists=lambda p: False)
