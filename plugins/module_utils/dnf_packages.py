# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the dnf install method, as pure functions over what rpm, dnf.conf and dnf's
resolved transaction say (the module ``dnf_upgrade`` asks dnf; package_steps.py decides
the holds and what a step refuses, as for apt).

A hold is an ``excludepkgs`` entry in dnf.conf's ``[main]``: dnf neither upgrades nor
installs what it excludes, as apt does not touch a held package. The entries the site wrote
stay; stackhop adds and removes only its own, recorded in a state file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import PackageStepError

RPM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
EXCLUDE_KEYS = ("excludepkgs", "exclude")
# rpm -qa --queryformat of the installed packages
QUERY_FORMAT = "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"


def check_names(names, what):
    """Refuse a name rpm would not accept (it reaches dnf's resolver and rpm's command line)."""
    for name in names:
        if not RPM_NAME.match(name):
            raise PackageStepError("%s %r is not an RPM package name; use the name rpm -q --qf "
                                   "'%%{NAME}' prints" % (what, name))


def _main_lines(text):
    """(index, key, value) of the option lines in dnf.conf's [main]."""
    section = None
    for index, line in enumerate((text or "").splitlines()):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif section == "main" and "=" in stripped and not stripped.startswith(("#", ";")):
            key, value = stripped.split("=", 1)
            yield index, key.strip(), value.strip()


def parse_excludes(text):
    """The packages dnf.conf's [main] excludes (``excludepkgs``, or its older name
    ``exclude``), in the order written; comma- or space-separated."""
    out = []
    for dummy, key, value in _main_lines(text):
        if key in EXCLUDE_KEYS:
            out += [v for v in re.split(r"[,\s]+", value) if v and v not in out]
    return out


def with_excludes(text, excludes):
    """dnf.conf's text with [main] excluding exactly ``excludes``: the first exclude line
    (the key the site used) rewritten in place, the others removed, or a new
    ``excludepkgs`` line at the end of [main]; ``[main]`` added when missing. Every other
    line stays."""
    lines = (text or "").splitlines()
    found = [(i, key) for i, key, dummy in _main_lines(text) if key in EXCLUDE_KEYS]
    value = ",".join(excludes)
    if found:
        first, key = found[0]
        drop = set(i for i, dummy in found[1:])
        out = []
        for index, line in enumerate(lines):
            if index == first:
                if excludes:
                    out.append("%s=%s" % (key, value))
            elif index not in drop:
                out.append(line)
        return "\n".join(out) + "\n"
    if not excludes:
        return text if text else ""
    main = next((i for i, line in enumerate(lines) if line.strip() == "[main]"), None)
    if main is None:
        return "\n".join(["[main]", "excludepkgs=%s" % value] + ([""] + lines if lines else [])) + "\n"
    end = next((i for i in range(main + 1, len(lines)) if lines[i].strip().startswith("[")), len(lines))
    while end > main + 1 and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[:end] + ["excludepkgs=%s" % value] + lines[end:]) + "\n"


def parse_rpm_query(text, excludes):
    """``rpm -qa --queryformat QUERY_FORMAT`` -> {name: {"version", "selection"}}; a package
    that dnf.conf excludes (by name or glob, as dnf matches them) is ``hold``."""
    packages = {}
    for line in (text or "").splitlines():
        fields = line.split("\t")
        if len(fields) != 2 or fields[0] == "gpg-pubkey":
            continue
        version = fields[1][2:] if fields[1].startswith("0:") else fields[1]
        held = any(fnmatch.fnmatchcase(fields[0], pattern) for pattern in excludes)
        packages[fields[0]] = {"version": version, "selection": "hold" if held else "install"}
    return packages


def simulation(items):
    """dnf's resolved transaction, as ``(action, name, before, after)`` tuples (action
    ``upgrade``, ``install`` or ``remove``; ``before`` the installed version or None), in
    the shape package_steps.upgrade_plan reads."""
    install, remove = {}, {}
    for action, name, before, after in items:
        if action in ("upgrade", "install"):
            install[name] = {"from": before, "to": after, "origin": ""}
        elif action == "remove":
            remove[name] = before or ""
    return {"install": install, "remove": remove, "kept_back": []}
