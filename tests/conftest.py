"""Shared fixtures: a private Open vSwitch per test module, and the Ansible runner."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# ansible_collections.stackhop.upgrade -> this checkout (the link scripts/setup.sh makes)
COLLECTIONS = REPO / "build" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.private_ovs import PrivateOvs  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root for namespaces, OVS and iptables")
        for item in items:
            if "needs_root" in item.keywords:
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
