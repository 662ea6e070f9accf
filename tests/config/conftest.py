"""Fixtures of the config migration tests: real releases' code in cached venvs.

``cached_venv(name, packages, exclude_newer)`` returns the venv of tests/lib/openstack_venv.py
when it is already cached. A developer's run without it skips (building nova takes
minutes of CPU); under CI=true the venv is built, and a failed build fails the test.
"""

from __future__ import annotations

import os

import pytest

from tests.lib.openstack_venv import MARKER, ensure_venv, venv_path
from tests.lib.tiers import ci_enabled


def cached(name, packages, exclude_newer):
    path = venv_path(name, packages, exclude_newer)
    if (path / MARKER).exists():
        return path
    if not ci_enabled(os.environ):
        pytest.skip("no cached %s venv under %s; build it with python -m "
                    "tests.lib.openstack_venv, or run with CI=true" % (name, path.parent))
    try:
        return ensure_venv(name, packages, exclude_newer)
    except RuntimeError as exc:
        pytest.fail("CI=true and the %s venv cannot be built: %s" % (name, exc))
    return None


@pytest.fixture(scope="session")
def cached_venv():
    return cached
