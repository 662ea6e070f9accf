#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apt_source
short_description: Switch a host's OpenStack package source to the target release, keeping the old one for rollback
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - The first step of the apt install method (DeNA - the cloud archive's list file of the new
    release written, the old one moved away). Writes O(line) as
    C(/etc/apt/sources.list.d/<name>.list), moves the files of O(replaces) aside into
    O(keep_dir), and runs C(apt-get update), which must succeed for every source.
  - The first switch records what it found (the file's earlier content or its absence, the
    files moved); later switches of a fast-forward (zed to 2023.1 to 2023.2...) keep that
    record, so O(state=restored) puts back the sources the host had before the upgrade.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  line:
    description:
      - The target release's source, one line as in C(sources.list), for example
        C(deb http://ubuntu-cloud.archive.canonical.com/ubuntu noble-updates/epoxy main)
        or an offline site's mirror. Required with O(state=present).
    type: str
  name:
    description: The file's name in C(/etc/apt/sources.list.d), without C(.list).
    type: str
    default: stackhop-openstack
  replaces:
    description:
      - Source files that carry the release being left (for example
        C(/etc/apt/sources.list.d/cloudarchive-dalmatian.list)); those present are moved aside.
    type: list
    elements: path
    default: []
  keep_dir:
    description: Where the files moved aside and the record of the switch are kept until restored.
    type: path
    default: /var/lib/stackhop/apt-sources
  state:
    description:
      - C(present) - the host uses O(line). C(restored) - the sources as they were before the
        first switch (rollback); nothing to do when no switch is recorded.
    type: str
    choices: [present, restored]
    default: present
  update_cache:
    description: Run C(apt-get update) even when no file changed.
    type: bool
    default: false
  sources_dir:
    description: The directory of apt's source files.
    type: path
    default: /etc/apt/sources.list.d
attributes:
  check_mode:
    support: full
    details: Returns the files it would write and move; runs no C(apt-get update).
  diff_mode:
    support: full
    details: The source file's content, and the files moved, before and after.
"""

EXAMPLES = r"""
- name: Use the target release's packages
  stackhop.upgrade.apt_source:
    line: "{{ stackhop_package_source }}"
    replaces: [/etc/apt/sources.list.d/cloudarchive-dalmatian.list]

- name: Roll back to the packages of the release before the upgrade
  stackhop.upgrade.apt_source:
    state: restored
"""

RETURN = r"""
path:
  description: The source file stackhop writes.
  returned: always
  type: str
moved:
  description: Files moved aside into O(keep_dir) by this run (put back, with O(state=restored)).
  returned: always
  type: list
  elements: str
record:
  description: What the first switch found (C(created), C(original), C(moved)); null after a restore.
  returned: always
  type: dict
executed_commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import json
import os
import socket

from ansible_collections.stackhop.upgrade.plugins.module_utils.apt_packages import (
    SOURCE_FILE_NAME,
    AptDecisionError,
    source_restore,
    source_switch,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
    read_text,
    write_text,
)


def saved_name(path):
    """The name a moved file is kept under: its path, flattened."""
    return path.strip("/").replace("/", "__")


class AptSource(StackhopModule):
    argument_spec = dict(
        line=dict(type="str"),
        name=dict(type="str", default="stackhop-openstack"),
        replaces=dict(type="list", elements="path", default=[]),
        keep_dir=dict(type="path", default="/var/lib/stackhop/apt-sources"),
        state=dict(type="str", choices=["present", "restored"], default="present"),
        update_cache=dict(type="bool", default=False),
        sources_dir=dict(type="path", default="/etc/apt/sources.list.d"),
    )
    module_kwargs = dict(required_if=[("state", "present", ["line"])])

    @property
    def record_path(self):
        return os.path.join(self.params["keep_dir"], self.params["name"] + ".json")

    def _record(self):
        text = read_text(self.record_path)
        if text is None:
            return None
        try:
            record = json.loads(text)
            record["moved"] = list(record["moved"])
            return record
        except (ValueError, KeyError, TypeError):
            raise StackhopError("%s is not stackhop's record of a package source switch; restore "
                                "the sources by hand and remove it" % self.record_path)

    def _update(self):
        apt_get = self.get_bin_path("apt-get", "the apt install method needs a Debian or Ubuntu host")
        rc, out, err = self.run_command([apt_get, "-q", "--error-on=any", "update"], check_rc=False,
                                        environ_update={"DEBIAN_FRONTEND": "noninteractive"})
        if rc != 0:
            errors = [ln for ln in (err + out).splitlines() if ln.startswith(("E:", "W:"))]
            raise StackhopError("apt-get update failed on %s: %s; check the package source's URL, "
                                "suite and signing key" % (socket.gethostname(),
                                                           (errors or ["exit code %d" % rc])[0]),
                                stderr=err)

    def _present(self, target):
        keep = self.params["keep_dir"]
        record = self._record()
        replaces = dict((p, os.path.exists(p)) for p in self.params["replaces"])
        try:
            switch = source_switch(self.params["line"], target, read_text(target), replaces, record)
        except AptDecisionError as exc:
            raise StackhopError(str(exc))
        for path in switch["move"]:
            kept = read_text(os.path.join(keep, saved_name(path)))
            if kept is not None and kept != read_text(path):
                raise StackhopError(
                    "%s came back after stackhop moved it to %s, with other content; remove one of "
                    "them (the kept one is what a rollback restores)" % (path, keep))
        changed = bool(switch["write"] is not None or switch["move"] or record != switch["manifest"])
        if changed and not self.check_mode:
            os.makedirs(keep, mode=0o700, exist_ok=True)
            write_text(self.record_path, json.dumps(switch["manifest"], indent=1, sort_keys=True) + "\n")
            for path in switch["move"]:
                os.replace(path, os.path.join(keep, saved_name(path)))
            if switch["write"] is not None:
                write_text(target, switch["write"])
        if (changed or self.params["update_cache"]) and not self.check_mode:
            self._update()
        return changed, switch["move"], switch["manifest"], switch["write"]

    def _restored(self, target):
        keep = self.params["keep_dir"]
        record = self._record()
        undo = source_restore(record, target)
        for path in undo["put_back"]:
            if read_text(os.path.join(keep, saved_name(path))) is None and not os.path.exists(path):
                raise StackhopError("%s is neither in place nor kept in %s; restore it from the "
                                    "host's backup" % (path, keep))
        changed = record is not None
        if changed and not self.check_mode:
            for path in undo["put_back"]:
                kept = os.path.join(keep, saved_name(path))
                if os.path.exists(kept):
                    os.replace(kept, path)
            if undo["write"] is not None:
                write_text(target, undo["write"])
            for path in undo["remove"]:
                if os.path.exists(path):
                    os.remove(path)
            os.remove(self.record_path)
        if (changed or self.params["update_cache"]) and not self.check_mode:
            self._update()
        return changed, undo

    def run(self):
        if not SOURCE_FILE_NAME.match(self.params["name"]):
            raise StackhopError("name %r cannot be a file name in %s; use letters, digits, '.', '_' "
                                "and '-'" % (self.params["name"], self.params["sources_dir"]))
        target = os.path.join(self.params["sources_dir"], self.params["name"] + ".list")
        before = {"content": read_text(target) or "", "elsewhere": sorted(
            p for p in self.params["replaces"] if os.path.exists(p))}
        if self.params["state"] == "present":
            changed, moved, record, written = self._present(target)
            after = {"content": written if written is not None else before["content"],
                     "elsewhere": sorted(set(before["elsewhere"]) - set(moved))}
            result = {"changed": changed, "path": target, "moved": moved, "record": record}
        else:
            changed, undo = self._restored(target)
            if undo["remove"]:
                content = ""
            else:
                content = undo["write"] if undo["write"] is not None else before["content"]
            after = {"content": content,
                     "elsewhere": sorted(set(before["elsewhere"]) | set(undo["put_back"]))}
            result = {"changed": changed, "path": target, "moved": [], "record": None}
        if self.diff_mode:
            def text(view):
                return view["content"] + "".join("# also in use: %s\n" % p for p in view["elsewhere"])
            result["diff"] = {"before": text(before), "after": text(after),
                              "before_header": target, "after_header": target}
        return result


def main():
    AptSource()()


if __name__ == "__main__":
    main()
