# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Print, as JSON, the oslo.config options a service's own code declares.

Runs INSIDE the target release's venv, with that venv's Python: the config_migrate module
pipes this file to ``<venv>/bin/python -I - [--namespace NS ...]``. It lists the option
namespaces the way oslo-config-generator does: the ``oslo.config.opts`` entry points (each
returns ``[(group, [opts])]``), the ``oslo.config.opts.defaults`` hooks that let the
application change library defaults first, and the driver options of groups with a
``driver_option`` (``oslo.config.opts.<driver_option>``). Without ``--namespace`` every
namespace installed in the venv is read, so options of every library the service loads
are known.

Only the standard library and oslo.config: it must run in any service venv. The output::

    {"format": 1, "namespaces": [...], "errors": {ns: message},
     "versions": {"oslo.config": "9.4.0", ...},
     "groups": {"DEFAULT": {"<dest>": {"name", "dest", "type", "opt_class", "default",
                                      "multi", "secret", "deprecated_opts": [{"group",
                                      "name"}], "deprecated_for_removal",
                                      "deprecated_since", "deprecated_reason"}}}}

``group``/``name`` of a deprecated opt are null when oslo.config means "the same as the
option's own" (see oslo.config's DeprecatedOpt).
"""

from __future__ import absolute_import, division, print_function

import json
import sys

__metaclass__ = type

FORMAT = 1
OPTS_GROUP = "oslo.config.opts"


def _entry_points(group):
    """The entry points of ``group``, on Python 3.8 to 3.13."""
    from importlib import metadata
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=group))
    return list(eps.get(group, []))  # Python < 3.10


def _named(group, names):
    """{name: entry point} of ``group``, restricted to ``names`` when given."""
    found = {}
    for ep in _entry_points(group):
        if names is None or ep.name in names:
            found.setdefault(ep.name, ep)
    return found


def _group_name(group):
    if group is None:
        return "DEFAULT"
    name = getattr(group, "name", group)
    # oslo-config-generator normalises group names the same way.
    return "DEFAULT" if name.upper() == "DEFAULT" else name.lower()


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return dict((str(k), _jsonable(v)) for k, v in value.items())
    return str(value)


def describe(opt):
    """The JSON description of one oslo.config Opt."""
    opt_type = getattr(opt, "type", None)
    return {
        "name": opt.name,
        "dest": opt.dest,
        "type": type(opt_type).__name__ if opt_type is not None else type(opt).__name__,
        "opt_class": type(opt).__name__,
        "default": None if opt.secret else _jsonable(opt.default),
        "multi": bool(getattr(opt, "multi", False)),
        "secret": bool(opt.secret),
        "deprecated_opts": [{"group": getattr(d, "group", None), "name": getattr(d, "name", None)}
                            for d in (opt.deprecated_opts or [])],
        "deprecated_for_removal": bool(opt.deprecated_for_removal),
        "deprecated_since": _jsonable(getattr(opt, "deprecated_since", None)),
        "deprecated_reason": _jsonable(getattr(opt, "deprecated_reason", None)),
    }


def _version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except Exception:  # pylint: disable=broad-except
        return None


def dump(namespaces=None):
    """The metadata dict of ``namespaces`` (None: every installed namespace)."""
    wanted = set(namespaces) if namespaces else None
    loaders = _named(OPTS_GROUP, wanted)
    errors = {}
    for name in sorted((wanted or set()) - set(loaders)):
        errors[name] = "no %s entry point of that name in this venv" % OPTS_GROUP
    # Application hooks first: they change library defaults (as the generator does).
    for name, ep in sorted(_named(OPTS_GROUP + ".defaults", set(loaders)).items()):
        try:
            ep.load()()
        except Exception as exc:  # pylint: disable=broad-except
            errors["%s (defaults)" % name] = "%s: %s" % (type(exc).__name__, exc)
    groups = {}
    loaded = []
    for name, ep in sorted(loaders.items()):
        try:
            listing = list(ep.load()())
        except Exception as exc:  # pylint: disable=broad-except
            errors[name] = "%s: %s" % (type(exc).__name__, exc)
            continue
        loaded.append(name)
        for group, opts in listing:
            opts = list(opts)
            driver_option = getattr(group, "driver_option", None)
            if driver_option:
                for dname, dep in sorted(_named(OPTS_GROUP + "." + driver_option,
                                                set(loaders)).items()):
                    try:
                        for driver_opts in dep.load()().values():
                            opts.extend(driver_opts)
                    except Exception as exc:  # pylint: disable=broad-except
                        errors["%s (%s drivers)" % (dname, driver_option)] = "%s: %s" % (
                            type(exc).__name__, exc)
            target = groups.setdefault(_group_name(group), {})
            for opt in opts:
                target.setdefault(opt.dest, describe(opt))
    return {
        "format": FORMAT,
        "namespaces": loaded,
        "errors": errors,
        "versions": {"oslo.config": _version("oslo.config"),
                     "python": "%d.%d.%d" % sys.version_info[:3]},
        "groups": groups,
    }


def main(argv):
    namespaces = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--namespace" and args:
            namespaces.append(args.pop(0))
        else:
            sys.stderr.write("usage: python - [--namespace NS]...\n")
            return 2
    json.dump(dump(namespaces or None), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
