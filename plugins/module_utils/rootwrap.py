# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Edit ``exec_dirs`` in an oslo.rootwrap ``rootwrap.conf`` without losing anything else.

rootwrap.conf is an INI file whose ``[DEFAULT] exec_dirs`` is a comma separated list
of directories; rootwrap runs the first executable it finds along them. The file is
edited line by line (comments, order and other keys stay as they are). When this
module moves a directory to the front it writes a marker comment recording the
previous value, so that ``state=absent`` can put exactly that order back.
"""

from __future__ import annotations

import os
import re

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
)

MARKER = "# stackhop.upgrade.conntrack_zone_pin: exec_dirs was: "
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^(exec_dirs)\s*[=:]\s*(.*?)\s*$")


def split_dirs(value):
    return [d.strip() for d in value.split(",") if d.strip()]


def _find(lines, path):
    """(index of the exec_dirs line, number of continuation lines, value, marker index)."""
    section = "DEFAULT"
    found = None
    marker = None
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        if section != "DEFAULT":
            continue
        if line.startswith(MARKER):
            marker = i
            continue
        m = _KEY.match(line)
        if m and found is None:
            value = m.group(2)
            cont = 0
            # INI continuation lines: indented lines that follow the key.
            while i + cont + 1 < len(lines) and lines[i + cont + 1][:1] in (" ", "\t") \
                    and lines[i + cont + 1].strip() and not lines[i + cont + 1].strip().startswith("#"):
                cont += 1
                value += "," + lines[i + cont].strip()
            found = (i, cont, value)
    if found is None:
        raise StackhopError(
            "%s has no exec_dirs in [DEFAULT], so rootwrap searches PATH and the wrapper "
            "cannot be put first; add an exec_dirs line (for example "
            "exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin) or set rootwrap_conf to ''"
            % path)
    return found[0], found[1], found[2], marker


def exec_dirs(text, path):
    """The list of exec_dirs in ``text`` (the contents of ``path``)."""
    return split_dirs(_find(text.splitlines(), path)[2])


def _same(a, b):
    return os.path.normpath(a) == os.path.normpath(b)


def put_first(text, path, directory):
    """``text`` with ``directory`` first in exec_dirs; the others keep their order."""
    lines = text.splitlines()
    idx, cont, value, marker = _find(lines, path)
    dirs = split_dirs(value)
    directory = os.path.normpath(directory)
    new = [directory] + [d for d in dirs if not _same(d, directory)]
    if new == dirs:
        return text
    line = "exec_dirs=" + ",".join(new)
    repl = [line] if marker is not None else [MARKER + ",".join(dirs), line]
    lines[idx:idx + cont + 1] = repl
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def undo(text, path, directory):
    """``text`` with the change of ``put_first`` undone, if its marker is there.

    The directory goes back where it was in the recorded value (or out, if it was not
    there); entries added or removed by others since are kept.
    """
    lines = text.splitlines()
    idx, cont, value, marker = _find(lines, path)
    if marker is None:
        return text
    original = split_dirs(lines[marker][len(MARKER):])
    dirs = [d for d in split_dirs(value) if not _same(d, directory)]
    before = [i for i, d in enumerate(original) if _same(d, directory)]
    if before:
        dirs.insert(min(before[0], len(dirs)), original[before[0]])
    lines[idx:idx + cont + 1] = ["exec_dirs=" + ",".join(dirs)]
    del lines[marker if marker < idx else marker - cont]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
