# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of one package-upgrade step that do not depend on the package manager: the
holds stackhop places and releases (a wanted set, never the site's), what a planned step
must refuse, and what switching the package source writes, moves aside and restores. apt_packages.py (apt, dpkg) and dnf_packages.py (dnf, rpm) read their
tool's output into the shapes used here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# How each tool names a package the site holds, and how it is released.
SITE_HOLDS = {
    "apt": ("apt-mark showhold", "release it with apt-mark unhold"),
    "dnf": ("excludepkgs in dnf.conf", "take it out of excludepkgs"),
}


class PackageStepError(Exception):
    """A step that must not run, said in one sentence (names the package and the fix)."""


def check_step(packages, held):
    """Refuse a step that would both upgrade and hold a package."""
    both = sorted(set(packages) & set(held))
    if both:
        raise PackageStepError("%s cannot be upgraded and held in the same step; take %s out of held "
                               "(the step releases it) or out of packages" % (", ".join(both), both[0]))


def hold_changes(installed, ours, wanted):
    """The holds a step places and releases.

    ``installed``: {name: {"version", "selection"}} (selection ``hold`` or ``install``);
    ``ours``: the packages stackhop held before (its state file); ``wanted``: those
    stackhop holds after this step. A package held by the site (held, and not ours) stays
    held and stays the site's. Packages not installed are left out (the catalogue names
    packages a host may not have).
    Returns {"hold": [...], "release": [...], "ours": [...], "site": [...], "absent": [...]}.
    """
    wanted = set(wanted)
    site = sorted(n for n, p in installed.items() if p["selection"] == "hold" and n not in ours)
    hold = sorted(n for n in wanted if n in installed and installed[n]["selection"] != "hold")
    release = sorted(n for n in ours if n not in wanted and n in installed
                     and installed[n]["selection"] == "hold")
    ours_after = sorted(n for n in wanted if n in installed and n not in site)
    return {"hold": hold, "release": release, "ours": ours_after, "site": site,
            "absent": sorted(n for n in wanted if n not in installed)}


def check_site_holds(requested, site_holds, host, tool="apt"):
    """Refuse to upgrade a package the site holds itself (checked before the tool is asked)."""
    shown, release = SITE_HOLDS[tool]
    for name in requested:
        if name in site_holds:
            raise PackageStepError(
                "%s is held on %s by the site (%s), not by stackhop; %s or leave it out of this "
                "step's packages" % (name, host, shown, release))


def upgrade_plan(simulation, installed, requested, allow_remove, site_holds, policy, host, tool="apt"):
    """Check a planned step and return what it changes.

    ``simulation``: {"install": {name: {"from", "to", "origin"}}, "remove": {name: version},
    "kept_back": [names]} (``from`` None for a new package); ``requested``: the packages
    this step must bring to their candidate (empty: whatever a full upgrade brings);
    ``policy``: {name: {"installed", "candidate"}} of them. Refuses, in one sentence: a
    requested package the site holds; a removal not in ``allow_remove``; a requested package
    that is installed, has a newer candidate and that the tool keeps back.
    """
    check_site_holds(requested, site_holds, host, tool)
    removals = sorted(set(simulation["remove"]) - set(allow_remove))
    if removals:
        raise PackageStepError(
            "the upgrade would remove %s on %s; add them to allow_remove if that is intended, or "
            "fix the package source" % (", ".join(removals), host))
    blocked = []
    for name in requested:
        known = policy.get(name, {})
        if name not in installed or name in simulation["install"]:
            continue
        if known.get("candidate") and known["candidate"] != installed[name]["version"]:
            blocked.append(name)
    if blocked:
        raise PackageStepError(
            "%s keeps %s back on %s (a package it depends on is held or cannot be installed); "
            "release that hold in the same step or upgrade it first" % (tool, ", ".join(blocked), host))
    upgraded = {n: {"before": i["from"], "after": i["to"]}
                for n, i in simulation["install"].items() if i["from"]}
    new = {n: i["to"] for n, i in simulation["install"].items() if not i["from"]}
    return {"upgraded": upgraded, "installed": new, "removed": dict(simulation["remove"]),
            "kept_back": simulation["kept_back"]}


def versions_text(installed, holds):
    """The diff's view of a host's packages: one ``name version [held]`` line each."""
    return "".join("%s %s%s\n" % (name, installed[name], " (held)" if name in holds else "")
                   for name in sorted(installed))


def step_changed(plan, holds, ours):
    """Whether a planned step changes the host: a package, a hold, or stackhop's record of its holds."""
    return bool(plan["upgraded"] or plan["installed"] or plan["removed"]
                or holds["hold"] or holds["release"] or sorted(ours) != holds["ours"])


def step_diff(plan, holds, installed, host):
    """The diff of a step: the packages it touches, with versions and holds, before and after."""
    touched = set(plan["upgraded"]) | set(plan["installed"]) | set(plan["removed"]) \
        | set(holds["hold"]) | set(holds["release"])
    before = dict((n, installed[n]["version"]) for n in touched if n in installed)
    after = dict(before)
    for name, versions in plan["upgraded"].items():
        after[name] = versions["after"]
    after.update(plan["installed"])
    for name in plan["removed"]:
        after.pop(name, None)
    held_before = set(n for n in touched if installed.get(n, {}).get("selection") == "hold")
    held_after = (held_before | set(holds["hold"])) - set(holds["release"])
    return {"before": versions_text(before, held_before), "after": versions_text(after, held_after),
            "before_header": "%s: packages" % host, "after_header": "%s: packages" % host}


# -- package sources (apt's list file, dnf's .repo file) ------------------------------------
def source_switch(content, target, target_content, replaces, saved):
    """What switching the package source does.

    ``content``: the source file stackhop wants (apt's one line, dnf's .repo section);
    ``target``: the file stackhop writes; ``target_content``: its content now (None: absent);
    ``replaces``: {path: exists} of the files that hold the release being left (moved
    aside); ``saved``: the manifest of an earlier switch not yet restored (None: none), so
    a second hop of a fast-forward keeps the original files, not the previous hop's.
    Returns {"write": content or None, "move": [paths], "manifest": {...}}.
    """
    manifest = dict(saved or {"created": None, "moved": []})
    move = sorted(p for p, exists in replaces.items() if exists and p != target)
    if saved is None:
        manifest["created"] = target_content is None
        manifest["original"] = target_content
    manifest["moved"] = sorted(set(manifest.get("moved", [])) | set(move))
    return {"write": content if target_content != content else None, "move": move,
            "manifest": manifest}


def source_restore(manifest, target):
    """Undo a switch: {"remove": [target] or [], "write": original content or None,
    "put_back": [paths]} from the manifest source_switch recorded."""
    if not manifest:
        return {"remove": [], "write": None, "put_back": []}
    return {"remove": [target] if manifest.get("created") else [],
            "write": None if manifest.get("created") else manifest.get("original"),
            "put_back": sorted(manifest.get("moved", []))}
