# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter of the control plane's state files (docs in files_differing.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _checksums(files, side):
    out = {}
    for entry in files or []:
        if not isinstance(entry, dict) or "path" not in entry:
            raise AnsibleFilterError("files_differing takes ansible.builtin.find's files; an entry of the %s "
                                     "side has no path: register find's result and pass its .files." % side)
        out[entry["path"]] = entry.get("checksum")
    return out


def files_differing(source, target):
    """The paths of ``source`` (find's files, get_checksum true) that ``target`` lacks or
    holds with another checksum, sorted; an entry without a checksum (find could not read
    it) always differs."""
    have = _checksums(target, "target")
    want = _checksums(source, "source")
    return sorted(path for path, checksum in want.items()
                  if checksum is None or have.get(path) != checksum)


class FilterModule:
    """stackhop.upgrade.files_differing."""

    def filters(self):
        return {"files_differing": files_differing}
