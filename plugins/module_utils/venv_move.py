# -*- coding: utf-8 -*-
# Copyright: (c) 2026, stackhop contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A packaged service moved onto a virtualenv, as NHN moved its services to per-release
virtualenvs: the package's unit stays (its name, its user, its runtime and log
directories, its config paths); a systemd drop-in replaces only the command, with the
same arguments, run from the venv. Removing the drop-in runs the package's code again,
which is the rollback.

Pure decisions; the module ``venv_dropin`` reads the unit and the process and writes the
drop-in. The command line is the one the package's unit really runs (read from /proc by
discovery, past Debian's ``/etc/init.d/<name> systemd-start`` wrapper), recorded the
first time it is seen, so a later hop (one venv to the next) and a stopped unit start
from the package's own arguments.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shlex

MASK = "********"
PYTHON = re.compile(r"^python[0-9.]*$")
UWSGI = re.compile(r"^uwsgi(_python[0-9]*|-core)?$")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class VenvMoveError(Exception):
    """A move that cannot be made, said in one sentence naming the unit and the fix."""


def _program_index(argv):
    """Index in argv of the program a Python interpreter runs (its script), or 0."""
    if argv and PYTHON.match(os.path.basename(argv[0])):
        i = 1
        while i < len(argv):
            if argv[i] in ("-m", "-c"):
                return None
            if argv[i] in ("-W", "-X"):
                i += 2
                continue
            if not argv[i].startswith("-"):
                return i
            i += 1
        return None
    return 0


def option_value(argv, name):
    """The last value of ``--name`` (``--name X`` or ``--name=X``) in argv, or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--" + name and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--%s=" % name):
            found = arg.split("=", 1)[1]
    return found


def venv_argv(unit, argv, venv, venv_files, wsgi_file=None, uwsgi_options=None):
    """The service's command line run from ``venv``: the program replaced by the venv's
    program of the same name, every argument kept.

    ``venv_files``: the names in ``<venv>/bin``. A uwsgi service runs the venv's uwsgi with
    the same arguments (its ini keeps the operator's tuning; pyuwsgi skips the Debian
    plugin lines it does not need), and its ``wsgi-file``, when it names a script the venv
    also has, is given again as the venv's (uwsgi takes the last value). ``wsgi_file``
    (from the caller: the ini's value) is that script's path. ``uwsgi_options`` (setting →
    value, the component catalogue's) follow as ``--setting value``, so they win over the
    ini; a service not run by uwsgi ignores them."""
    if not argv:
        raise VenvMoveError("%s runs no process and stackhop has no record of its command line; "
                            "start it once from its package so its arguments can be read" % unit)
    if any(MASK in arg for arg in argv):
        raise VenvMoveError("%s has a password-like option on its command line; move it into the "
                            "service's config file, a command line is readable by every local user" % unit)
    index = _program_index(argv)
    if index is None:
        raise VenvMoveError("%s runs Python code with -m or -c (%s); give the unit a console "
                            "script so the venv's can replace it" % (unit, " ".join(argv[:3])))
    program = os.path.basename(argv[index])
    if UWSGI.match(program):
        if "uwsgi" not in venv_files:
            raise VenvMoveError("%s runs under uwsgi but %s/bin has no uwsgi; install pyuwsgi in "
                                "the venv" % (unit, venv))
        out = [os.path.join(venv, "bin", "uwsgi")] + list(argv[index + 1:])
        if wsgi_file and not wsgi_file.startswith(venv.rstrip("/") + "/"):
            name = os.path.basename(wsgi_file)
            if name not in venv_files:
                raise VenvMoveError("%s loads %s, which the venv %s does not have; give wsgi_file "
                                    "for the target release (its WSGI script or module)"
                                    % (unit, wsgi_file, venv))
            out += ["--wsgi-file", os.path.join(venv, "bin", name)]
        for key in sorted(uwsgi_options or {}):
            out += ["--" + key, str(uwsgi_options[key])]
        return out
    if program not in venv_files:
        raise VenvMoveError("%s runs %s, which the venv %s does not have; install the service's "
                            "package in the venv or check the unit" % (unit, program, venv))
    return [os.path.join(venv, "bin", program)] + list(argv[index + 1:])


def dropin_text(unit, venv, argv, user=None, group=None, environment=None, unit_has_user=True):
    """The drop-in: ExecStart reset and replaced, PATH with the venv first, the package's
    user kept (written only when the package's unit does not set it itself: Debian's
    init-script wrapper switches user with start-stop-daemon instead)."""
    lines = ["# stackhop: %s runs from %s; the package's unit is kept." % (unit, venv),
             "# Remove this file (and run systemctl daemon-reload) to run the package's code again.",
             "[Service]",
             "ExecStart=",
             "ExecStart=%s" % " ".join(shlex.quote(a) for a in argv),
             "Environment=PATH=%s/bin:%s" % (venv.rstrip("/"), DEFAULT_PATH)]
    for key in sorted(environment or {}):
        lines.append("Environment=%s" % shlex.quote("%s=%s" % (key, environment[key])))
    if not unit_has_user and user and user != "root":
        lines.append("User=%s" % user)
        lines.append("Group=%s" % (group or user))
    return "\n".join(lines) + "\n"


def command_source(record, running_argv, ours_active, venv_root):
    """Which command line the move starts from: the recorded one (a later hop, or the unit
    stopped or already running from a venv), else the running process's (the package's,
    seen for the first time, then to be recorded). Returns (argv, record_it)."""
    if record and record.get("argv"):
        return record["argv"], False
    if ours_active:
        return None, False
    if running_argv and venv_root and _program_index(running_argv) is not None:
        index = _program_index(running_argv)
        if running_argv[index].startswith(venv_root.rstrip("/") + "/"):
            return None, False   # already a venv's: not the package's command line
    return running_argv, bool(running_argv)
