#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: config_migrate
short_description: Migrate an operator's oslo.config file to a new release, changing only what must change
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Edits one oslo.config file (for example C(/etc/nova/nova.conf)) of a cloud stackhop did
    not deploy. The operator's file stays the source of truth and is never rewritten as a
    whole; every line no edit touches, comments, blank lines and order included, is kept
    byte for byte.
  - The edits are, in this order, the option renames and moves of every release on the
    path, then the options the target release no longer declares (reported, and deleted
    only with O(unknown_policy=remove)), then the items the target or a release before it
    removed from a list option of O(component) (the release model's facts, for example nova 2023.2's
    C(AvailabilityZoneFilter) in C([filter_scheduler] enabled_filters); the other items
    keep their order), then O(settings), then O(overrides).
  - Renames come from the releases' own code, never from a hand-written table. For each
    release in O(releases) the module runs that release's venv Python on a helper that
    lists the oslo.config option namespaces (the C(oslo.config.opts) entry points, as
    C(oslo-config-generator) does) and reads each option's C(deprecated_opts),
    C(deprecated_for_removal) and C(deprecated_since). An option the file sets that a
    release does not declare, but that one of its options lists in C(deprecated_opts),
    moves to that option's group and name. When the file already sets the new name, its
    value is kept and the old line is dropped.
  - An option the target does not declare is reported with the release that removed it
    (the release after the last one in O(releases) that declared it). Groups with an auth
    plugin (they declare C(auth_type)) take options the plugin registers at run time; those
    are reported as unverified and never deleted.
  - The file is written atomically (a temporary file in the same directory, renamed over
    it), keeping its owner, group and mode. A second run changes nothing.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  path:
    description: The oslo.config file to migrate. It must exist. Or O(paths).
    type: path
  paths:
    description:
      - Several files of one service, read with the same releases' metadata (each release's
        code is asked once); the result then lists each file's in RV(files).
    type: list
    elements: path
  releases:
    description:
      - The releases on the upgrade path whose option metadata is read, oldest first; the
        last one is the target. Give at least the target. Giving the current release and
        every release between lets the module chain renames across releases and name the
        release that removed an option.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The release name, for example C(2024.1), used in reasons and reports.
        type: str
        required: true
      python:
        description: Python of the release's venv (for example C(/openstack/venvs/nova-2024.1/bin/python)).
          The module runs it with the metadata helper on standard input.
        type: path
      metadata:
        description: A JSON file with the release's option metadata, as printed by the helper
          (C(plugins/module_utils/oslo_options_dump.py)); instead of O(releases[].python).
        type: path
  namespaces:
    description:
      - The C(oslo.config.opts) namespaces to read, for example C(nova.conf) and
        C(keystonemiddleware.auth_token). Empty reads every namespace installed in the
        venv, so the options of every library the service loads are known.
    type: list
    elements: str
    default: []
  component:
    description:
      - The component whose file this is (a catalogue name, for example V(nova)). The
        namespaces of the other components' packages installed in the same Python (a venv
        with every service, or a distribution's system Python) are then left out, so their
        options neither count as declared nor drive renames in this file. Namespaces named
        in O(namespaces) are always read.
    type: str
  metadata_dir:
    description:
      - A directory where each release's option metadata, once read from its Python, is kept
        (one JSON file per release, Python, component and namespaces) and read again by the
        next call, so several files of one service read each release's code once. Whoever
        passes it empties it when the code may have changed. Not written in check mode.
    type: path
  settings:
    description: Settings the upgrade itself needs, section to option to value. A null value
      deletes the option; a list is written comma-separated, or as repeated keys for a
      multi-valued option.
    type: dict
    default: {}
  overrides:
    description: The operator's overrides (C(<role>_<file>_overrides)), section to option to
      value, applied last; same values as O(settings).
    type: dict
    default: {}
  unknown_policy:
    description: What becomes of an option the target release does not declare. C(keep)
      reports it and leaves it; C(remove) reports it and deletes its lines. With C(remove)
      a namespace that fails to load is an error.
    type: str
    choices: [keep, remove]
    default: keep
attributes:
  check_mode:
    support: full
    details: Plans and reports every edit and the diff; writes nothing.
  diff_mode:
    support: full
    details: The file before and after, values of secret options masked.
"""

EXAMPLES = r"""
- name: Migrate nova.conf to 2025.1, renames from the 2024.1 and 2025.1 code
  stackhop.upgrade.config_migrate:
    path: /etc/nova/nova.conf
    releases:
      - name: "2024.1"
        python: /openstack/venvs/nova-2024.1/bin/python
      - name: "2025.1"
        python: /openstack/venvs/nova-2025.1/bin/python
    settings:
      upgrade_levels:
        compute: auto
    overrides: "{{ nova_nova_conf_overrides | default({}) }}"
  register: nova_conf_migration

- name: Show what changed and what the target no longer knows
  ansible.builtin.debug:
    msg: "{{ nova_conf_migration.edits | map(attribute='reason') + nova_conf_migration.unknown | map(attribute='message') }}"
"""

RETURN = r"""
edits:
  description: The edits made (or, in check mode, planned), in order, with their reasons;
    values of secret options are masked.
  returned: with O(path)
  type: list
  elements: dict
  sample:
    - action: set
      section: api
      option: max_limit
      values: ["500"]
      multi: false
      kind: rename
      reason: DEFAULT/osapi_max_limit is renamed api/max_limit in 2024.1 (deprecated_opts of api/max_limit)
      secret: false
renamed:
  description: Each rename found, from and to (C(group/option)), the release, and whether the
    file already set the new name (then its value was kept).
  returned: with O(path)
  type: list
  elements: dict
unknown:
  description: Options the target does not declare, with C(removed_in) and C(last_known)
    (null when no release given declared them), C(action) (kept or removed) and a message.
  returned: with O(path)
  type: list
  elements: dict
unverified:
  description: Options of groups with an auth plugin that the target's code does not declare
    statically; kept.
  returned: with O(path)
  type: list
  elements: dict
deprecated:
  description: Options the file sets that the target declares deprecated for removal.
  returned: with O(path)
  type: list
  elements: dict
unified_diff:
  description: The change as a unified diff, values of secret options masked; empty when
    nothing changes.
  returned: with O(path)
  type: str
target:
  description: The target release's name.
  returned: always
  type: str
namespace_errors:
  description: Namespaces that failed to load, per release (their options count as unknown).
  returned: always
  type: dict
path:
  description: The file.
  returned: with O(path)
  type: str
files:
  description: With O(paths), each file's result (C(path), C(changed), C(edits), C(renamed), C(unknown),
    C(unverified), C(deprecated), C(unified_diff)), in the order given.
  returned: with O(paths)
  type: list
  elements: dict
executed_commands:
  description: The metadata helper runs, one per release given with a python.
  returned: always
  type: list
  elements: str
"""

import difflib
import hashlib
import json
import os
import tempfile

from ansible_collections.stackhop.upgrade.plugins.module_utils import components as catalogue
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model
from ansible_collections.stackhop.upgrade.plugins.module_utils import oslo_options_dump
from ansible_collections.stackhop.upgrade.plugins.module_utils.config_migration import (
    MigrationError,
    Release,
    is_secret,
    plan,
    public_edits,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import IniText
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
    helper_source,
)

ENCODING = "utf-8"
ERRORS = "surrogateescape"


class ConfigMigrate(StackhopModule):
    module_kwargs = dict(mutually_exclusive=[["path", "paths"]], required_one_of=[["path", "paths"]])
    argument_spec = dict(
        path=dict(type="path"),
        paths=dict(type="list", elements="path"),
        releases=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            python=dict(type="path"),
            metadata=dict(type="path"),
        ), mutually_exclusive=[["python", "metadata"]],
            required_one_of=[["python", "metadata"]]),
        namespaces=dict(type="list", elements="str", default=[]),
        component=dict(type="str"),
        metadata_dir=dict(type="path"),
        settings=dict(type="dict", default={}),
        overrides=dict(type="dict", default={}),
        unknown_policy=dict(type="str", choices=["keep", "remove"], default="keep"),
    )

    def other_packages(self):
        """The PyPI packages of the catalogue's components other than O(component)."""
        name = self.params["component"]
        if not name:
            return []
        try:
            catalogue.component(name)
        except catalogue.UnknownComponent as exc:
            raise StackhopError(str(exc))
        return [catalogue.CATALOGUE[other]["package"] for other in catalogue.ORDER if other != name]

    def metadata(self, release):
        name = release["name"]
        if release.get("metadata"):
            try:
                with open(release["metadata"]) as handle:
                    return json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise StackhopError("the option metadata of %s in %s cannot be read (%s); "
                                    "dump it again with oslo_options_dump.py" % (
                                        name, release["metadata"], exc))
        python = release["python"]
        if not os.access(python, os.X_OK):
            raise StackhopError("the Python of %s, %s, is not an executable; give the "
                                "python of that release's venv" % (name, python))
        cached = self.cache_path(name, python)
        if cached and os.path.isfile(cached):
            with open(cached) as handle:
                return json.load(handle)
        data = self.dump(name, python)
        if cached and not self.check_mode:
            os.makedirs(os.path.dirname(cached), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cached), prefix=".metadata-")
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, cached)
        return data

    def cache_path(self, name, python):
        """The metadata file of this release, Python, component and namespaces in
        O(metadata_dir), or None without it."""
        if not self.params["metadata_dir"]:
            return None
        key = json.dumps([name, python, self.params["component"], sorted(self.params["namespaces"])])
        return os.path.join(self.params["metadata_dir"],
                            "%s-%s.json" % (name, hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]))

    def dump(self, name, python):
        """Release ``name``'s option metadata, read by the helper under its ``python``."""
        argv = [python, "-I", "-"]
        for namespace in self.params["namespaces"]:
            argv += ["--namespace", namespace]
        for package in self.other_packages():
            argv += ["--exclude-dist", package]
        # each service's options in a process of its own (they collide on the global CONF)
        for component in catalogue.ORDER:
            argv += ["--isolate-dist", catalogue.CATALOGUE[component]["package"]]
        _rc, out, _err = self.run_command(argv, data=helper_source(oslo_options_dump))
        try:
            return json.loads(out)
        except ValueError:
            raise StackhopError("the option metadata helper printed no JSON under %s's "
                                "python %s" % (name, python))

    def run(self):
        paths = self.params["paths"] or [self.params["path"]]
        for path in paths:
            if not os.path.isfile(path):
                raise StackhopError("%s does not exist; config_migrate edits an existing file "
                                    "and never creates one" % path)
        releases, namespace_errors = self.read_releases()
        results = [self.migrate(path, releases) for path in paths]
        if self.params["path"]:
            return dict(results[0], namespace_errors=namespace_errors)
        return {"changed": any(r["changed"] for r in results), "target": results[0]["target"],
                "files": [dict((k, v) for k, v in r.items() if k != "diff") for r in results],
                "namespace_errors": namespace_errors, "diff": [r["diff"] for r in results]}

    def removed_items(self):
        """The list items of O(component)'s options that the target release (the last of
        O(releases)) no longer accepts (the release model's facts); none without O(component)."""
        if not self.params["component"]:
            return {}
        try:
            return release_model.removed_list_items(self.params["component"], self.params["releases"][-1]["name"])
        except release_model.ReleaseModelError:
            return {}

    def read_releases(self):
        """[(name, metadata)] of O(releases) and the namespaces that failed per release."""
        releases = []
        namespace_errors = {}
        for release in self.params["releases"]:
            data = self.metadata(release)
            errors = data.get("errors") or {}
            if errors:
                namespace_errors[release["name"]] = errors
                if self.params["namespaces"] or self.params["unknown_policy"] == "remove":
                    first = sorted(errors)[0]
                    raise StackhopError(
                        "namespace %s of %s failed to load (%s); fix the venv or name only "
                        "the namespaces that load" % (first, release["name"], errors[first]),
                        namespace_errors=namespace_errors)
            releases.append((release["name"], data))
        return releases, namespace_errors

    def migrate(self, path, releases):
        """Plan the edits of one file, write them unless in check mode; its result."""
        with open(path, "rb") as handle:
            before = handle.read().decode(ENCODING, ERRORS)
        doc = IniText(before)
        try:
            result = plan(doc.assignments(), releases, settings=self.params["settings"],
                          overrides=self.params["overrides"],
                          unknown_policy=self.params["unknown_policy"],
                          removed_items=self.removed_items())
        except MigrationError as exc:
            raise StackhopError("%s: %s" % (path, exc))
        doc.apply(result["edits"])
        after = doc.render()
        changed = after != before
        indexed = [Release(name, data) for name, data in releases]

        def secret(group, key):
            return is_secret(group, key, indexed)

        shown_before = IniText(before).masked(secret)
        shown_after = IniText(after).masked(secret)
        unified = "".join(difflib.unified_diff(
            shown_before.splitlines(True), shown_after.splitlines(True),
            fromfile=path, tofile=path))
        if changed and not self.check_mode:
            self.write(path, after)
        return {
            "changed": changed,
            "path": path,
            "target": result["target"],
            "edits": public_edits(result["edits"]),
            "renamed": result["renamed"],
            "unknown": result["unknown"],
            "unverified": result["unverified"],
            "deprecated": result["deprecated"],
            "unified_diff": unified,
            "diff": {"before": shown_before, "after": shown_after,
                     "before_header": path, "after_header": path},
        }

    def write(self, path, text):
        """Write ``text`` to ``path`` atomically, keeping owner, group, mode (and SELinux
        context): a temporary file in the same directory renamed over it."""
        fd, tmp = tempfile.mkstemp(prefix=".%s.stackhop-" % os.path.basename(path),
                                   dir=os.path.dirname(path) or ".")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode(ENCODING, ERRORS))
            self.ansible.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def main():
    ConfigMigrate()()


if __name__ == "__main__":
    main()
