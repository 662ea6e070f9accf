"""requirements.lock (what scripts/setup.sh installs) pins every requirement of
requirements.txt, at a version its specifier allows (openstacksdk<4.15 among them)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def requirements():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return [Requirement(ln.split("#")[0].strip()) for ln in lines if ln.split("#")[0].strip()]


def pins():
    found = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if m:
            found[canonicalize_name(m.group(1))] = Version(m.group(2))
    return found


def test_every_requirement_is_pinned_within_its_specifier():
    locked = pins()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in locked, "%s is not pinned in requirements.lock: refresh it (README)" % req.name
        assert req.specifier.contains(locked[name], prereleases=True), \
            "requirements.lock pins %s %s, outside %s" % (req.name, locked[name], req)


def test_the_lock_pins_only():
    """Every package line of the lock is name==version: nothing left to the resolver."""
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+$", line.strip()), line
    assert pins()[canonicalize_name("openstacksdk")] < Version("4.15")
