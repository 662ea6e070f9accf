# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Edit an oslo.config INI file and keep every byte that no edit touches.

The file is read the way oslo.config's own parser (``oslo_config.iniparser``) reads it:
``key = value`` or ``key: value`` (whichever separator comes first), lines starting with
``#`` or ``;`` are comments, an indented line continues the value above it (up to a blank
line), a key may repeat (multi-valued options such as ``pci_passthrough_whitelist``; for a
single-valued option the last one wins), ``[Section]`` names other than ``DEFAULT`` are
compared lower-cased, and a section may appear several times.

Editing:

* ``set``    updates the option's line in place (key spelling, separator and spacing kept,
             only the value replaced); with several values (a multi-valued option) the
             repeated lines are updated in place, extra ones removed, missing ones added
             after the last. A missing option is added after the last option of its
             section (after the header when the section has none); a missing section is
             added at the end of the file.
* ``remove`` deletes only the option's lines (the key line and its continuation lines).

Comments, blank lines, order, line endings and commented-out defaults are never touched:
with no edits ``render()`` returns the input unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def normalize_group(name):
    """The group oslo.config reads a section name as (DEFAULT, else lower case)."""
    if name is None:
        return None
    return "DEFAULT" if name == "DEFAULT" else name.lower()


def split_assignment(line):
    """(key, separator index) of an assignment line, as oslo.config splits it, or None."""
    colon = line.find(":")
    equal = line.find("=")
    if colon < 0 and equal < 0:
        return None
    sep = equal if colon < 0 or (0 <= equal < colon) else colon
    key = line[:sep].strip()
    return (key, sep) if key else None


def parse_value(raw):
    """The value oslo.config reads from the text after the separator."""
    value = raw.strip()
    if value and value[0] == value[-1] and value.startswith(("\"", "'")):
        value = value[1:-1]
    return value


def format_value(value):
    """Text to write for ``value`` so that oslo.config reads back exactly ``value``."""
    value = "" if value is None else str(value)
    if value != value.strip() or (len(value) > 1 and value[0] == value[-1]
                                  and value[0] in "\"'") or value in ("\"", "'"):
        return "\"%s\"" % value
    return value


class Assignment:
    """One ``key = value`` of the file: lines ``start`` to ``end`` (exclusive)."""

    __slots__ = ("section", "group", "key", "value", "start", "end")

    def __init__(self, section, key, value, start):
        self.section = section
        self.group = normalize_group(section)
        self.key = key
        self.value = value
        self.start = start
        self.end = start + 1

    def as_dict(self):
        return {"section": self.section, "group": self.group, "key": self.key,
                "value": self.value, "line": self.start + 1}


class IniText:
    """An INI text as lines (line endings kept) with oslo.config's view of its options."""

    def __init__(self, text):
        # Only "\n" ends a line (str.splitlines would also split at \f, \x1c, \u2028...).
        parts = text.split("\n")
        self.lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        self.newline = "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"

    # -- reading --------------------------------------------------------------
    def scan(self):
        """(assignments, headers): every assignment in file order, and every section
        header as (group, line index)."""
        assignments = []
        headers = []
        section = None
        current = None
        continued = []
        for index, line in enumerate(self.lines):
            text = line.rstrip()
            if not text:
                current = self._close(current, continued)
                continue
            if text.startswith((" ", "\t")):
                if current is not None:
                    continued.append(text.lstrip())
                    current.end = index + 1
                continue          # a stray indented line: oslo.config rejects it; kept
            current = self._close(current, continued)
            if text.startswith("["):
                if text.endswith("]") and len(text) > 2:
                    section = text[1:-1]
                    headers.append((normalize_group(section), index))
            elif text.startswith(("#", ";")):
                continue
            else:
                split = split_assignment(text)
                if split:
                    key, sep = split
                    current = Assignment(section, key, None, index)
                    continued = [text[sep + 1:]]
                    assignments.append(current)
        self._close(current, continued)
        return assignments, headers

    @staticmethod
    def _close(current, continued):
        if current is not None:
            first = parse_value(continued[0])
            current.value = "\n".join([first] + continued[1:])
            del continued[:]
        return None

    def assignments(self):
        return self.scan()[0]

    def values(self, group, key):
        """Every value of ``key`` in ``group``, in file order."""
        group = normalize_group(group)
        return [a.value for a in self.assignments() if a.group == group and a.key == key]

    # -- editing --------------------------------------------------------------
    def _option_lines(self, key, value, template=None):
        """The lines of ``key = value`` (continuation lines for a multi-line value)."""
        parts = value.split("\n")
        if template is not None:
            body = template.rstrip("\r\n")
            _key, sep = split_assignment(body)
            after = body[sep + 1:]
            spacing = after[:len(after) - len(after.lstrip())]
            eol = template[len(body):] or self.newline
            first = body[:sep + 1] + spacing + format_value(parts[0]) + eol
        else:
            eol = self.newline
            first = "%s = %s%s" % (key, format_value(parts[0]), eol)
        return [first] + ["    %s%s" % (part, eol) for part in parts[1:]]

    def _ensure_final_newline(self):
        if self.lines and not self.lines[-1].endswith(("\n", "\r")):
            self.lines[-1] += self.newline

    def set(self, group, key, values, multi=False):
        """Set ``key`` in ``group`` to ``values``: one string, or with ``multi`` a list
        written as repeated keys (a multi-valued option). Returns whether the text
        changed."""
        if not isinstance(values, (list, tuple)):
            values = [values]
        values = ["" if v is None else str(v) for v in values]
        if not multi and len(values) != 1:
            raise ValueError("%s/%s is single-valued; got %d values" % (group, key, len(values)))
        group = normalize_group(group)
        assignments, headers = self.scan()
        found = [a for a in assignments if a.group == group and a.key == key]
        if not multi:
            found = found[-1:]              # single-valued: the last one is the value
        if found:
            if [a.value for a in found] == values:
                return False
            extra = values[len(found):]
            # From the bottom up, so the line numbers above stay valid.
            for position in range(len(found) - 1, -1, -1):
                assignment = found[position]
                new = []
                if position < len(values):
                    new = self._option_lines(key, values[position],
                                             self.lines[assignment.start])
                if position == len(found) - 1:
                    for value in extra:
                        new += self._option_lines(key, value)
                self.lines[assignment.start:assignment.end] = new
            return True
        if not values:
            return False
        new = []
        for value in values:
            new += self._option_lines(key, value)
        in_group = [a for a in assignments if a.group == group]
        group_headers = [index for name, index in headers if name == group]
        if in_group:
            at = in_group[-1].end
        elif group_headers:
            at = group_headers[-1] + 1
        else:
            self._ensure_final_newline()
            if self.lines and self.lines[-1].strip():
                self.lines.append(self.newline)
            self.lines.append("[%s]%s" % (group, self.newline))
            self.lines.extend(new)
            return True
        if at == len(self.lines):
            self._ensure_final_newline()
        self.lines[at:at] = new
        return True

    def remove(self, group, key):
        """Delete every ``key`` of ``group`` (its lines only). Returns whether it changed."""
        group = normalize_group(group)
        found = [a for a in self.assignments() if a.group == group and a.key == key]
        for assignment in reversed(found):
            del self.lines[assignment.start:assignment.end]
        return bool(found)

    def apply(self, edits):
        """Apply edits ``{"action": "set"|"remove", "section", "option", "values", "multi"}``."""
        changed = False
        for edit in edits:
            if edit["action"] == "set":
                changed = self.set(edit["section"], edit["option"], edit["values"],
                                   multi=edit.get("multi", False)) or changed
            elif edit["action"] == "remove":
                changed = self.remove(edit["section"], edit["option"]) or changed
            else:
                raise ValueError("unknown edit action %r" % (edit["action"],))
        return changed

    def render(self):
        return "".join(self.lines)

    def masked(self, secret, mask="********"):
        """The text with the value of every assignment ``secret(group, key)`` holds for
        replaced by ``mask`` (for diffs and logs)."""
        lines = list(self.lines)
        for assignment in reversed(self.assignments()):
            if assignment.group is None or not secret(assignment.group, assignment.key):
                continue
            first = lines[assignment.start]
            body = first.rstrip("\r\n")
            sep = split_assignment(body)[1]
            after = body[sep + 1:]
            spacing = after[:len(after) - len(after.lstrip())]
            lines[assignment.start:assignment.end] = [
                body[:sep + 1] + spacing + mask + (first[len(body):] or "")]
        return "".join(lines)


def apply_edits(text, edits):
    """``text`` with ``edits`` applied (see IniText.apply)."""
    doc = IniText(text)
    doc.apply(edits)
    return doc.render()
