# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""An operator's overrides applied to a rendered oslo.config file, as openstack-ansible's
config_template does: ``{section: {option: value}}`` wins over the role's template; and
one option's value read from such a file.

The documentation is in ini_overrides.yml and ini_value.yml next to this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import IniText


def _value(value):
    """oslo.config's spelling of a YAML value: true/false, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def override_edits(overrides, name="the overrides"):
    """The ini_edit edits of ``{section: {option: value}}``: a value sets the option, a
    list sets a multi-valued option (one line per item), null removes the option."""
    if overrides in (None, ""):
        return []
    if not isinstance(overrides, dict):
        raise AnsibleFilterError("%s must be a dict of sections, each a dict of options, not %s; "
                                 "write it as {section: {option: value}}" % (name, type(overrides).__name__))
    edits = []
    for section, options in overrides.items():
        if not isinstance(options, dict):
            raise AnsibleFilterError("%s: section [%s] must be a dict of options, not %s; write it "
                                     "as {%s: {option: value}}" % (name, section, type(options).__name__, section))
        for option, value in options.items():
            if value is None:
                edits.append({"action": "remove", "section": str(section), "option": str(option)})
            elif isinstance(value, dict):
                raise AnsibleFilterError("%s: [%s] %s is a dict; give a value, a list (one line "
                                         "per item) or null (removed)" % (name, section, option))
            elif isinstance(value, (list, tuple)):
                edits.append({"action": "set", "section": str(section), "option": str(option),
                              "values": [_value(v) for v in value], "multi": True})
            else:
                edits.append({"action": "set", "section": str(section), "option": str(option),
                              "values": [_value(value)]})
    return edits


def ini_overrides(text, overrides, name="the overrides"):
    """``text`` (an INI file) with ``overrides`` applied; every other byte kept."""
    edits = override_edits(overrides, name)
    if not edits:
        return text
    doc = IniText(text)
    doc.apply(edits)
    return doc.render()


def ini_value(text, section, option, default=""):
    """The value oslo.config reads for ``option`` of ``section`` in ``text`` (the last of
    several lines), or ``default`` when the file does not set it."""
    if not isinstance(text, str):
        raise AnsibleFilterError("ini_value needs the file's text, not %s; read it with "
                                 "ansible.builtin.slurp and b64decode it" % type(text).__name__)
    values = IniText(text).values(section, option)
    return values[-1] if values else default


class FilterModule(object):
    def filters(self):
        return {"ini_overrides": ini_overrides, "ini_value": ini_value}
