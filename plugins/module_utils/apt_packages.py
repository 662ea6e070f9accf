# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the apt install method, as pure functions over what apt and dpkg print.

DeNA's compute sequence (procedures.md section 3) is: switch the package source to the new
release, keeping the old one aside; hold nova-compute, Open vSwitch and the neutron agent;
upgrade the rest; release nova-compute and upgrade it; upgrade Open vSwitch without a
restart; release the neutron packages and upgrade them. The modules ``apt_source`` and
``apt_upgrade`` run the commands; this file decides:

* which holds a step places and releases (package_steps.py, shared with dnf): stackhop's
  holds are a wanted set, recorded in a state file, so a hold the site placed itself is
  never released;
* what an upgrade would do, from apt's simulation run against a copy of dpkg's status
  file that carries the step's holds (so check mode shows the step's real effect);
* what a step must refuse: a removal nobody allowed, a package asked for that apt keeps
  back, a package asked for that the site holds;
* which source files a switch writes and moves aside, and what a rollback puts back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.stackhop.upgrade.plugins.module_utils import package_steps as steps
from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import PackageStepError

# The error of an apt step (package_steps' own: the steps' decisions are shared with dnf).
AptDecisionError = PackageStepError

# apt-get --simulate prints one line per action:
#   Inst nova-compute [2:26.0.0-1] (2:27.0.0-1 local:2023.1/bookworm [all]) []
#   Inst python3-new (1.0-1 Debian:12/stable [amd64])
#   Remv old-package [1.0-1]
#   Conf nova-compute (2:27.0.0-1 local:2023.1/bookworm [all])
SIMULATION_LINE = re.compile(
    r"^(?P<action>Inst|Remv|Purg|Conf) (?P<name>[^ :]+)(?::\S+)?"
    r"(?: \[(?P<installed>[^\]]+)\])?(?: \((?P<candidate>\S+)(?: (?P<origin>[^\[)]*?))?(?: \[[^\]]*\])?\))?")
KEPT_BACK_HEADER = "The following packages have been kept back:"
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def parse_simulation(text):
    """apt-get --simulate output -> {"install": {name: {"from", "to", "origin"}},
    "remove": {name: version}, "kept_back": [names]}. ``from`` is None for a new package."""
    install, remove, kept_back = {}, {}, []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(KEPT_BACK_HEADER):
            for follow in lines[index + 1:]:
                if not follow.startswith(" "):
                    break
                kept_back.extend(follow.split())
            continue
        match = SIMULATION_LINE.match(line)
        if not match:
            continue
        action, name = match.group("action"), match.group("name")
        if action == "Inst":
            install[name] = {"from": match.group("installed"), "to": match.group("candidate"),
                             "origin": (match.group("origin") or "").strip()}
        elif action in ("Remv", "Purg"):
            remove[name] = match.group("installed") or ""
    return {"install": install, "remove": remove, "kept_back": sorted(set(kept_back))}


def parse_dpkg_query(text):
    """``dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` -> {name:
    {"version", "selection"}} for installed packages; selection is ``hold`` or ``install``
    (the first letter of Status-Abbrev: i install, h hold, r remove, p purge)."""
    packages = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        name, version, status = fields[0].split(":")[0], fields[1], fields[2].strip()
        if len(status) < 2 or status[1] not in "iWUFHt":   # not unpacked or installed
            continue
        packages[name] = {"version": version,
                          "selection": "hold" if status[0] == "h" else "install"}
    return packages


def parse_policy(text):
    """``apt-cache policy NAME...`` -> {name: {"installed", "candidate"}} (None for "(none)")."""
    policy, name = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            name = line[:-1].split(":")[0]
            policy[name] = {"installed": None, "candidate": None}
            continue
        stripped = line.strip()
        for key in ("installed", "candidate"):
            prefix = key.capitalize() + ":"
            if name and stripped.startswith(prefix):
                value = stripped[len(prefix):].strip()
                policy[name][key] = None if value == "(none)" else value
    return policy


def check_names(names, what):
    """Refuse a name dpkg would not accept (it would reach apt's command line)."""
    for name in names:
        if not PACKAGE_NAME.match(name):
            raise AptDecisionError("%s %r is not a Debian package name; use the name dpkg-query -W "
                                   "prints" % (what, name))


def status_with_selections(status_text, selections):
    """dpkg's status file with the want state of some packages changed ({name: "hold" |
    "install"}): what apt reads holds from, so a simulation against it shows the step's
    effect before any hold is written."""
    out, current = [], None
    for line in status_text.splitlines(True):
        if line.startswith("Package: "):
            current = line[len("Package: "):].strip()
        elif line.startswith("Status: ") and current in selections:
            parts = line[len("Status: "):].split()
            if len(parts) == 3:
                parts[0] = selections[current]
                line = "Status: %s\n" % " ".join(parts)
        elif not line.strip():
            current = None
        out.append(line)
    return "".join(out)


# -- package sources -----------------------------------------------------------------------
def check_source_line(line):
    """A one-line apt source (``deb [options] URI suite [component...]``), normalised, or an
    error naming what is wrong."""
    text = " ".join(line.split())
    match = re.match(r"^(deb|deb-src)( \[[^\]]*\])? (\S+) (\S+)(( \S+)*)$", text)
    if not match:
        raise AptDecisionError(
            "package source %r is not a one-line apt source; write it as in sources.list, e.g. "
            "'deb http://mirror.example/openstack-2024.1 bookworm main'" % line)
    if not match.group(4).endswith("/") and not match.group(5):
        raise AptDecisionError(
            "package source %r names suite %s without a component; add one (e.g. main) or use a "
            "flat repository path ending in /" % (line, match.group(4)))
    return text


def source_switch(want_line, target, target_content, replaces, saved):
    """What switching the apt source to ``want_line`` does (package_steps.source_switch)."""
    return steps.source_switch(check_source_line(want_line) + "\n", target, target_content, replaces, saved)


def source_restore(manifest, target):
    """Undo a switch (package_steps.source_restore)."""
    return steps.source_restore(manifest, target)
