# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module base of a package source switch (apt_source, dnf_source): write the target
release's source file, move the files of the release being left aside, record what the
first switch found so a rollback puts it back, and have the tool read the new source.
The decisions are package_steps.source_switch and source_restore; a subclass says what the
file holds (``wanted``), where it goes (``target``) and how the tool reads it
(``refresh``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import (
    PackageStepError,
    source_restore,
    source_switch,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
    read_text,
    write_text,
)

SOURCE_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

# the options every source switch takes
COMMON_SPEC = dict(
    name=dict(type="str", default="stackhop-openstack"),
    replaces=dict(type="list", elements="path", default=[]),
    state=dict(type="str", choices=["present", "restored"], default="present"),
    update_cache=dict(type="bool", default=False),
)


def saved_name(path):
    """The name a moved file is kept under: its path, flattened."""
    return path.strip("/").replace("/", "__")


class PackageSourceModule(StackhopModule):
    """A source switch; subclasses set ``suffix`` and define wanted, refresh and sources_dir."""

    suffix = ""

    def sources_dir(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def wanted(self):  # pragma: no cover - abstract
        """The source file's content (validated), or raise StackhopError naming the fix."""
        raise NotImplementedError

    def refresh(self):  # pragma: no cover - abstract
        """Have the tool read every source; fail in one sentence when one cannot be read."""
        raise NotImplementedError

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

    def _present(self, target):
        keep = self.params["keep_dir"]
        record = self._record()
        replaces = dict((p, os.path.exists(p)) for p in self.params["replaces"])
        try:
            switch = source_switch(self.wanted(), target, read_text(target), replaces, record)
        except PackageStepError as exc:
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
            self.refresh()
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
            self.refresh()
        return changed, undo

    def run(self):
        if not SOURCE_FILE_NAME.match(self.params["name"]):
            raise StackhopError("name %r cannot be a file name in %s; use letters, digits, '.', '_' "
                                "and '-'" % (self.params["name"], self.sources_dir()))
        target = os.path.join(self.sources_dir(), self.params["name"] + self.suffix)
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
