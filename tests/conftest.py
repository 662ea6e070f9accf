"""Shared fixtures: a private Open vSwitch per test module, and the Ansible runner; which
tests run (tests/lib/tiers.py: rehearsals, root)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# ansible_collections.stackhop.upgrade -> this checkout (the link scripts/setup.sh makes)
COLLECTIONS = REPO / "build" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from lab.labctl import ensure_base  # noqa: E402
from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.private_ovs import PrivateOvs  # noqa: E402
from tests.lib.tiers import REHEARSAL_ENV, ci_enabled, rehearsal_selected, root_verdict  # noqa: E402


def pytest_collection_modifyitems(config, items):
    # The rehearsals (scripts/rehearse.sh) run only when STACKHOP_REHEARSAL names them.
    selection = os.environ.get(REHEARSAL_ENV, "")
    for item in items:
        # (a module several rehearsals run names each of them)
        marker = item.get_closest_marker("rehearsal")
        if marker and not any(rehearsal_selected(name, selection) for name in marker.args):
            item.add_marker(pytest.mark.skip(reason="a rehearsal: scripts/rehearse.sh %s"
                                             % " or ".join(marker.args)))
    needs_root = [item for item in items if "needs_root" in item.keywords]
    verdict = root_verdict(os.geteuid(), ci_enabled(os.environ))
    if verdict == "fail" and needs_root:
        raise pytest.UsageError(
            "CI=true but not root: %d selected tests need root for namespaces, Open vSwitch, "
            "iptables and MariaDB (%s...); run the suite as root" % (
                len(needs_root), needs_root[0].nodeid))
    if verdict == "skip":
        skip = pytest.mark.skip(reason="needs root for namespaces, OVS and iptables")
        for item in needs_root:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ansible_module():
    """``ansible_module(name, args, check=False, diff=False)`` -> result dict."""
    return run_module


@pytest.fixture(scope="module")
def private_ovs(tmp_path_factory, request):
    """A running private OVS in its own netns, torn down after the test module."""
    if not shutil.which("ovs-vswitchd"):
        pytest.fail("ovs-vswitchd is not installed; run scripts/setup.sh")
    name = "sht-%s-%d" % (request.module.__name__.rsplit(".", 1)[-1][:12], os.getpid() % 10000)
    ovs = PrivateOvs(tmp_path_factory.mktemp("ovs"), name.replace("_", "-"))
    ovs.start()
    yield ovs
    ovs.stop()


@pytest.fixture(scope="session")
def lab_base():
    """The lab hosts' base root, built once per machine (lab/labctl.py); for every test
    directory whose tests make lab hosts (tests/lab, tests/packages)."""
    t0 = time.monotonic()
    base = ensure_base()
    return {"path": base, "seconds": time.monotonic() - t0}
