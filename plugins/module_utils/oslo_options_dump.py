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

    {"format": 1, "namespaces": [...], "excluded": [...], "errors": {ns: message},
     "default_errors": {ns: message},
     "versions": {"oslo.config": "9.4.0", ...},
     "groups": {"DEFAULT": {"<dest>": {"name", "dest", "type", "opt_class", "default",
                                      "multi", "secret", "deprecated_opts": [{"group",
                                      "name"}], "deprecated_for_removal",
                                      "deprecated_since", "deprecated_reason"}}}}

``group``/``name`` of a deprecated opt are null when oslo.config means "the same as the
option's own" (see oslo.config's DeprecatedOpt).

Namespaces load in forked processes. Services register their options on the global
``cfg.CONF`` at import, so two of them in one Python (a venv with every service, or a
distribution's system Python) collide: nova's and cinder's ``default_availability_zone``
(``DuplicateOptError``), or one's import leaves global state another's ``list_opts`` trips
on. So each distribution named with ``--isolate-dist NAME`` (the services) loads in a
process of its own, except the first one present, which loads with every library in one
process, as oslo-config-generator would (its defaults hooks then reach the libraries'
options). ``--exclude-dist NAME`` leaves out another service's distribution, whose
options are not this file's.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
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


def _normalize(name):
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def _dist_of(ep):
    """The normalized name of the distribution an entry point comes from (its top-level
    package when importlib does not say)."""
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return _normalize(name or ep.value.split(":")[0].split(".")[0])


def _load(loaders, hooks):
    """(groups, loaded, errors) of the namespaces ``loaders`` ({name: entry point}), after
    the application ``hooks`` of the same names."""
    errors = {}
    default_errors = {}
    for name, ep in sorted(hooks.items()):
        try:
            ep.load()()
        except Exception as exc:  # pylint: disable=broad-except
            # only defaults depend on it (os_brick's hook wants oslo.concurrency's options
            # registered first), never which options exist: not an error of the namespace
            default_errors[name] = "%s: %s" % (type(exc).__name__, exc)
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
    return {"groups": groups, "loaded": loaded, "errors": errors, "default_errors": default_errors}


def _isolated(func, *args):
    """func(*args) in a forked child, its JSON result read back through a pipe; a child
    that dies without one gives {"fatal": message}."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        try:
            text = json.dumps(func(*args))
        except BaseException as exc:  # pylint: disable=broad-except
            text = json.dumps({"fatal": "%s: %s" % (type(exc).__name__, exc)})
        with os.fdopen(write_fd, "w") as out:
            out.write(text)
        os._exit(0)  # pylint: disable=protected-access
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        text = inp.read()
    dummy, status = os.waitpid(pid, 0)
    try:
        return json.loads(text)
    except ValueError:
        return {"fatal": "the process loading them exited with status %d and no result" % status}


def dump(namespaces=None, exclude_dists=(), isolate_dists=()):
    """The metadata dict of ``namespaces`` (None: every installed namespace), leaving out
    those of the distributions ``exclude_dists`` and loading each of ``isolate_dists``
    but the first present in a process of its own."""
    wanted = set(namespaces) if namespaces else None
    loaders = _named(OPTS_GROUP, wanted)
    errors = {}
    for name in sorted((wanted or set()) - set(loaders)):
        errors[name] = "no %s entry point of that name in this venv" % OPTS_GROUP
    excluded = set(_normalize(d) for d in exclude_dists or ())
    isolated = set(_normalize(d) for d in isolate_dists or ())
    hooks = _named(OPTS_GROUP + ".defaults", set(loaders))
    by_dist = {}
    skipped = []
    for name, ep in loaders.items():
        dist = _dist_of(ep)
        if dist in excluded and (wanted is None or name not in wanted):
            skipped.append(name)
            continue
        by_dist.setdefault(dist, {})[name] = ep
    services = sorted(d for d in by_dist if d in isolated)
    shared = {}
    for dist in sorted(by_dist):
        if dist not in services[1:]:
            shared.update(by_dist[dist])
    batches = [shared] + [by_dist[d] for d in services[1:]]
    groups = {}
    loaded = []
    default_errors = {}
    for eps in batches:
        if not eps:
            continue
        part = _isolated(_load, eps, dict((n, hooks[n]) for n in eps if n in hooks))
        if "fatal" in part:
            for name in eps:
                errors[name] = part["fatal"]
            continue
        errors.update(part["errors"])
        default_errors.update(part["default_errors"])
        loaded += part["loaded"]
        for group, opts in part["groups"].items():
            target = groups.setdefault(group, {})
            for dest, desc in opts.items():
                target.setdefault(dest, desc)
    return {
        "format": FORMAT,
        "namespaces": sorted(loaded),
        "excluded": sorted(skipped),
        "errors": errors,
        "default_errors": default_errors,
        "versions": {"oslo.config": _version("oslo.config"),
                     "python": "%d.%d.%d" % sys.version_info[:3]},
        "groups": groups,
    }


def main(argv):
    namespaces = []
    exclude = []
    isolate = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--namespace" and args:
            namespaces.append(args.pop(0))
        elif arg == "--exclude-dist" and args:
            exclude.append(args.pop(0))
        elif arg == "--isolate-dist" and args:
            isolate.append(args.pop(0))
        else:
            sys.stderr.write("usage: python - [--namespace NS]... [--exclude-dist NAME]... "
                             "[--isolate-dist NAME]...\n")
            return 2
    json.dump(dump(namespaces or None, exclude, isolate), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
