# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Plan the changes an upgrade makes to an operator's oslo.config file. Pure: no I/O.

The inputs are the options the file sets (``ini_edit.IniText.assignments()``), the option
metadata of each release on the upgrade path as the releases' own code declares it
(``oslo_options_dump``; oldest first, the target last), the settings the upgrade needs,
and the operator's overrides. The plan is a list of edits, each with its reason:

1. Renames and moves, release by release: an option the file sets that a release no
   longer declares but that matches one of its options' ``deprecated_opts`` moves to that
   option's group and name (a chain of renames over several releases ends at the last
   name). When the file already sets the new name, the operator's new value is kept and
   the old line is dropped.
2. Options the target does not declare are reported, with the release that removed them
   (the release after the last one on the path that declared them) and, with the
   ``remove`` policy, deleted. Groups with an auth plugin (they declare ``auth_type``)
   take options the plugin registers at run time (``username``, ``password``...): these
   are reported as unverified and never deleted.
3. The settings the upgrade needs, then the operator's overrides
   (section -> option -> value; a null value deletes the option).

Options the target declares ``deprecated_for_removal`` are reported as warnings.
"""

from __future__ import absolute_import, division, print_function

from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import normalize_group

__metaclass__ = type

POLICIES = ("keep", "remove")
# Sections a list option names, whose options the code declares under template groups:
# cinder reads each backend [DEFAULT] enabled_backends names with the options of [backend]
# and [backend_defaults] (cinder/opts.py), so its metadata has no [lvm] or [fake] group.
SECTION_TEMPLATES = {("DEFAULT", "enabled_backends"): ("backend_defaults", "backend")}
_URL_KEYS = ("connection", "slave_connection", "transport_url", "backend_url")


class MigrationError(Exception):
    """Inputs the planner cannot work from (one sentence)."""


class Release:
    """One release's option metadata, indexed for look-ups."""

    def __init__(self, name, metadata):
        if not isinstance(metadata, dict) or not isinstance(metadata.get("groups"), dict):
            raise MigrationError("the option metadata of %s has no groups; dump it with "
                                 "oslo_options_dump" % name)
        self.name = name
        self.options = {}
        self.aliases = {}
        self.auth_groups = set()
        self.templates = {}     # section -> the template groups it reads its options from
        for group, options in metadata["groups"].items():
            group = normalize_group(group)
            for dest, opt in options.items():
                self.options[(group, dest)] = dict(opt, group=group, dest=dest)
                if opt.get("name") and opt["name"] != dest:
                    self.options.setdefault((group, opt["name"]), self.options[(group, dest)])
                if dest == "auth_type":
                    self.auth_groups.add(group)
        for (group, dest), opt in sorted(self.options.items()):
            if dest != opt["dest"]:
                continue
            for old in opt.get("deprecated_opts") or []:
                old_group = normalize_group(old.get("group")) or group
                old_name = (old.get("name") or dest).replace("-", "_")
                if (old_group, old_name) != (group, dest):
                    self.aliases.setdefault((old_group, old_name), (group, dest))

    def _lookup(self, table, group, key):
        for candidate in (group,) + tuple(self.templates.get(group, ())):
            found = table.get((candidate, key)) or table.get((candidate, key.replace("-", "_")))
            if found:
                return candidate, found
        return None, None

    def knows(self, group, key):
        return self._lookup(self.options, group, key)[1] is not None

    def option(self, group, key):
        return self._lookup(self.options, group, key)[1]

    def renamed(self, group, key):
        """(group, dest) that ``group``/``key`` is a deprecated name of, or None (in a
        templated section, the new name stays in that section)."""
        if self.knows(group, key):
            return None
        found_in, new = self._lookup(self.aliases, group, key)
        if new is None:
            return None
        return (group, new[1]) if found_in != group and new[0] == found_in else new


def render_value(value, multi=False):
    """Values (a list of strings) to write for an override value."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        items = ["true" if v is True else "false" if v is False else str(v) for v in value]
        return items if multi else [",".join(items)]
    return [str(value)]


def is_secret(group, key, releases):
    for release in releases:
        opt = release.option(group, key)
        if opt and opt.get("secret"):
            return True
    return "password" in key or key in _URL_KEYS


def _name(group, key):
    return "%s/%s" % (group, key)


def section_templates(original, overrides=None):
    """{section: template groups} of the sections the file's list options name
    (SECTION_TEMPLATES), from the file's values and the overrides' (a backend's name is
    what precedes a ``:`` type, as glance writes its stores)."""
    out = {}
    for (group, key), templates in SECTION_TEMPLATES.items():
        values = list(original.get((group, key)) or [])
        layer = overrides.get(group) if isinstance(overrides, dict) else None
        override = layer.get(key) if isinstance(layer, dict) else None   # bad shapes: refused below
        if override is not None:
            values.append(",".join(override) if isinstance(override, (list, tuple)) else str(override))
        for value in values[-1:]:
            for name in str(value or "").split(","):
                name = name.split(":", 1)[0].strip()
                if name:
                    out[normalize_group(name)] = templates
    return out


def plan(assignments, releases, settings=None, overrides=None, unknown_policy="keep",
         removed_items=None):
    """The migration plan of a file; see the module docstring.

    ``assignments``: dicts (or objects) with ``group``, ``key``, ``value`` in file order.
    ``releases``: [(release name, metadata)] oldest first; the last is the target.
    Returns {"edits", "renamed", "unknown", "unverified", "deprecated", "target"}; each
    edit is {"action", "section", "option", "values", "multi", "kind", "reason", "secret"}.
    """
    if unknown_policy not in POLICIES:
        raise MigrationError("unknown_policy must be one of %s, not %r" % (
            ", ".join(POLICIES), unknown_policy))
    if not releases:
        raise MigrationError("no release metadata; give at least the target release's")
    releases = [Release(name, metadata) for name, metadata in releases]
    target = releases[-1]

    # The file's options as oslo.config reads them: (group, key) -> values in file order.
    original = {}
    outside = []
    for item in assignments:
        get = item.get if isinstance(item, dict) else lambda k, i=item: getattr(i, k)
        group, key = get("group"), get("key")
        if group is None:
            outside.append(key)
            continue
        original.setdefault((group, key), []).append(get("value"))
    templates = section_templates(original, overrides)
    for release in releases:
        release.templates = templates
    state = dict((k, list(v)) for k, v in original.items())
    moved_from = {}         # current (group, key) -> original (group, key)
    renamed = []
    edits = []

    # 1. renames, release by release (a chain of renames ends at the last name)
    reasons = {}            # current (group, key) -> reasons of the moves that led there
    dropped = {}            # original (group, key) -> reasons it was dropped for
    for release in releases:
        for (group, key) in list(state):
            new = release.renamed(group, key)
            if new is None:
                continue
            values = state.pop((group, key))
            origin = moved_from.pop((group, key), (group, key))
            why = reasons.pop((group, key), [])
            record = {"from": _name(group, key), "to": _name(*new), "release": release.name,
                      "kept_existing": new in state}
            if new in state:
                record["reason"] = ("%s is deprecated in %s for %s, which the file already "
                                    "sets; its value is kept and the old option dropped" % (
                                        _name(group, key), release.name, _name(*new)))
                dropped[origin] = why + [record["reason"]]
            else:
                opt = release.option(*new)
                state[new] = values if opt.get("multi") else values[-1:]
                moved_from[new] = origin
                record["reason"] = "%s is renamed %s in %s (deprecated_opts of %s)" % (
                    _name(group, key), _name(*new), release.name, _name(*new))
                reasons[new] = why + [record["reason"]]
            renamed.append(record)
    by_origin = dict((origin, new) for new, origin in moved_from.items())
    for origin in original:
        if origin in by_origin:
            new = by_origin[origin]
            opt = target.option(*new) or {}
            reason = "; ".join(reasons[new])
            edits.append(_edit("set", new, state[new], "rename", reason,
                               bool(opt.get("multi")), releases))
            edits.append(_edit("remove", origin, None, "rename", reason, False, releases))
        elif origin in dropped:
            edits.append(_edit("remove", origin, None, "rename", "; ".join(dropped[origin]),
                               False, releases))

    # 2. options the target does not declare
    unknown = []
    unverified = []
    deprecated = []
    for (group, key) in sorted(state):
        if target.knows(group, key):
            opt = target.option(group, key)
            if opt.get("deprecated_for_removal"):
                deprecated.append({
                    "section": group, "option": key, "since": opt.get("deprecated_since"),
                    "reason": opt.get("deprecated_reason"),
                    "message": "%s is deprecated for removal in %s%s" % (
                        _name(group, key), target.name,
                        " since %s" % opt["deprecated_since"]
                        if opt.get("deprecated_since") else "")})
            continue
        origin = moved_from.get((group, key), (group, key))
        if group in target.auth_groups:
            unverified.append({
                "section": group, "option": key,
                "message": "%s is not declared by %s's code; [%s] loads an auth plugin that "
                           "may register it at run time, so it is kept" % (
                               _name(group, key), target.name, group)})
            continue
        last = None
        for index, release in enumerate(releases[:-1]):
            if release.knows(*origin):
                last = index
        entry = {"section": group, "option": key, "last_known": None, "removed_in": None}
        if last is not None:
            entry["last_known"] = releases[last].name
            entry["removed_in"] = releases[last + 1].name
            opt = releases[last].option(*origin)
            entry["deprecated_since"] = opt.get("deprecated_since")
            message = "%s was removed in %s (last declared by %s%s)" % (
                _name(group, key), entry["removed_in"], entry["last_known"],
                ", deprecated since %s" % opt["deprecated_since"]
                if opt.get("deprecated_since") else "")
        else:
            message = "%s is declared by no release on the path (%s): a typo, or an " \
                      "option of a library outside the namespaces read" % (
                          _name(group, key), ", ".join(r.name for r in releases))
        entry["action"] = "removed" if unknown_policy == "remove" else "kept"
        entry["message"] = message
        unknown.append(entry)
        if unknown_policy == "remove":
            state.pop((group, key))
            edits.append(_edit("remove", (group, key), None, "unknown", message, False,
                               releases))
    for key in outside:
        unknown.append({"section": None, "option": key, "last_known": None,
                        "removed_in": None, "action": "kept",
                        "message": "%s is set before any [section]; oslo.config rejects "
                                   "such a file" % key})

    # 3. items of a list option that a release on the path removed ({(group, key): {item:
    #    why}}): the rest of the list is kept, in its order
    for (group, key), items in sorted((removed_items or {}).items()):
        group = normalize_group(group)
        if (group, key) not in state or not state[(group, key)]:
            continue
        value = state[(group, key)][-1]
        listed = [item.strip() for item in str(value).split(",")]
        kept = [item for item in listed if item and item not in items]
        gone = [item for item in listed if item in items]
        if not gone:
            continue
        state[(group, key)] = [",".join(kept)]
        edits.append(_edit("set", (group, key), state[(group, key)], "removed_value",
                           "; ".join(items[item] for item in gone), False, releases))

    # 4. the upgrade's settings, then the operator's overrides
    for kind, layer, why in (("setting", settings, "needed by the upgrade"),
                             ("override", overrides, "operator override")):
        for section, options in sorted((layer or {}).items()):
            if not isinstance(options, dict):
                raise MigrationError("%s %s must map option names to values" % (kind, section))
            group = normalize_group(section)
            for key, value in sorted(options.items()):
                new = target.renamed(group, key)
                note = ""
                if new is not None:
                    note = " (given as %s, its deprecated name)" % _name(group, key)
                    group_key = new
                else:
                    group_key = (group, key)
                opt = target.option(*group_key) or {}
                if not opt:
                    note += "; %s does not declare it" % target.name
                multi = bool(opt.get("multi"))
                if value is None:
                    if group_key in state:
                        state.pop(group_key)
                        edits.append(_edit("remove", group_key, None, kind,
                                           "%s removes it%s" % (why, note), False, releases))
                    continue
                values = render_value(value, multi)
                have = state.get(group_key)
                if have is not None and (have if multi else have[-1:]) == values:
                    continue
                state[group_key] = values
                edits.append(_edit("set", group_key, values, kind, "%s%s" % (why, note),
                                   multi, releases))
    return {"edits": edits, "renamed": renamed, "unknown": unknown,
            "unverified": unverified, "deprecated": deprecated, "target": target.name}


def _edit(action, group_key, values, kind, reason, multi, releases):
    group, key = group_key
    return {"action": action, "section": group, "option": key, "values": values,
            "multi": multi, "kind": kind, "reason": reason,
            "secret": is_secret(group, key, releases)}


def public_edits(edits, mask="********"):
    """The edits with the values of secret options masked, for results and logs."""
    shown = []
    for edit in edits:
        edit = dict(edit)
        if edit.get("secret") and edit.get("values"):
            edit["values"] = [mask for _value in edit["values"]]
        shown.append(edit)
    return shown
