# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""What runs on a host, read from the host itself: for each OpenStack service unit, the
process, the Python environment and the distribution package its code comes from, the
release that code is, the user it runs as, the configuration files it reads and where
it logs. The parsers and decisions live here (no Ansible import, unit-tested); the
module ``stackhop.upgrade.service_discovery`` runs the commands and reads the files.

How each answer is found, in the order tried:

* the process: the unit's ``MainPID``; a shell or ``start-stop-daemon`` there only
  starts the service (Debian's init-script wrappers), so its child is read instead. A
  unit that is not running is described from its ``ExecStart``.
* the Python environment: a ``pyvenv.cfg`` in a parent directory of the script, of the
  interpreter (as the unit names it, not the resolved link) or of uwsgi's
  ``virtualenv``/``home``: a virtualenv at any path (stackhop's, openstack-ansible's
  ``/openstack/venvs/<service>-<version>``, an operator's); else the system's Python.
* the code's version: the ``.dist-info`` or ``.egg-info`` of the component's package in
  that environment's site-packages (Debian's packages ship ``.egg-info``); the release
  is the one whose service version that is (release_model).
* the install method: ``venv`` (``managed_by: stackhop`` under stackhop's venv root),
  else the owner of that metadata in the package database: ``apt`` (dpkg) or ``dnf``
  (rpm), with the packages' own versions.
* the configuration files, as oslo.config would find them: ``--config-file`` and
  ``--config-dir`` on the command line; under a WSGI server, the component's own
  environment variables (``OS_NOVA_CONFIG_DIR``...; catalogue field ``wsgi_config``);
  else oslo.config's defaults for the project and program (``~/.nova/``, ``~/``,
  ``/etc/nova/``, ``/etc/``, and their ``.conf.d`` directories).
* the logs: ``--log-file``/``--log-dir``, else the last ``log_file``/``log_dir`` of
  ``[DEFAULT]`` in those files, joined as oslo.log joins them; none: the journal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re
import shlex

from ansible_collections.stackhop.upgrade.plugins.module_utils import components as catalogue
from ansible_collections.stackhop.upgrade.plugins.module_utils import ini_edit
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model

# A process title around the command line: neutron's agents' "NAME (...)", cotyledon's
# "NAME: master process [...]".
TITLE = re.compile(r"^[\w.-]+ \((.*)\)$|^[\w.-]+: master process \[(.*)\]$")

# The unit properties read, in one `systemctl show` for every unit.
PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "FragmentPath", "DropInPaths",
              "MainPID", "User", "Group", "ExecStart", "Environment")
# A unit's main process that only starts the service and waits for it.
WRAPPERS = ("sh", "bash", "dash", "start-stop-daemon", "runuser", "su", "setpriv")
# Programs that host a WSGI application: its config comes from the environment.
WSGI_SERVERS = ("uwsgi", "uwsgi_python3", "uwsgi-core", "apache2", "httpd", "gunicorn",
                "mod_wsgi-express")
# Environment variables a service reads its config location from; nothing else of a
# process environment is kept (it may hold secrets).
CONFIG_ENV = re.compile(r"^OS_[A-Z]+_CONFIG_(DIR|FILES)$")
# An option whose value is secret, masked wherever an argv is returned.
SECRET_OPTION = re.compile(r"pass|secret|token", re.IGNORECASE)
SYSTEM_SITE_GLOBS = ("/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
                     "/usr/lib64/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
                     "/usr/local/lib/python3*/site-packages")


class HostFiles:
    """The host's files under ``root`` ("/" on a host; a directory tree in tests)."""

    def __init__(self, root="/"):
        self.root = root

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def exists(self, path):
        return os.path.exists(self.path(path))

    def isdir(self, path):
        return os.path.isdir(self.path(path))

    def listdir(self, path):
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []

    def read(self, path):
        """The file's text, or None when it cannot be read."""
        try:
            with open(self.path(path), "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return None

    def glob(self, pattern):
        """Absolute host paths matching ``pattern`` (``*`` in any component), sorted."""
        found = ["/"]
        for part in pattern.strip("/").split("/"):
            nxt = []
            for base in found:
                if any(ch in part for ch in "*?["):
                    nxt += [os.path.join(base, n) for n in self.listdir(base) if fnmatch.fnmatch(n, part)]
                elif self.exists(os.path.join(base, part)):
                    nxt.append(os.path.join(base, part))
            found = nxt
        return sorted(found)


# -- systemctl ---------------------------------------------------------------------------

def parse_systemctl_show(text):
    """{unit Id: {property: value}} of `systemctl show`'s blocks (blank-line separated)."""
    units = {}
    current = {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current.get("Id"):
                units[current["Id"]] = current
            current = {}
            continue
        key, sep, value = line.partition("=")
        if sep and key not in current:        # the first ExecStart= is the command run
            current[key] = value
    return units


def exec_start_argv(value):
    """argv of the first command of systemctl's ExecStart property, [] when none.

    The property reads ``{ path=/usr/bin/x ; argv[]=/usr/bin/x --a b ; ignore_errors=no ;
    ... }``; systemd joins argv with spaces, so an argument with a space is split."""
    match = re.search(r"argv\[\]=(.*?) ; ", value or "")
    return match.group(1).split() if match else []


def unit_environment(value):
    """The config-location variables of systemctl's Environment property."""
    try:
        words = shlex.split(value or "")
    except ValueError:
        words = (value or "").split()
    return config_env(dict(w.split("=", 1) for w in words if "=" in w))


def config_env(env):
    """Only HOME and the OS_<SERVICE>_CONFIG_DIR/_FILES variables of an environment."""
    return {k: v for k, v in env.items() if k == "HOME" or CONFIG_ENV.match(k)}


# -- processes ---------------------------------------------------------------------------

def proc_argv(files, pid):
    """The process's argv from /proc, or None when it is gone.

    Services that set their process title (setproctitle: neutron's agents and server,
    oslo.service's workers) overwrite the argv area, so /proc holds one string: the
    command line joined by spaces, ``NAME (command line)`` as neutron's agents write it,
    or ``NAME: master process [command line]`` as cotyledon (oslo.service's threading
    backend, neutron's RPC server and agents from 2025.2) writes it, one inside the other.
    That string is split at spaces (an argument holding a space is split too)."""
    raw = files.read("/proc/%d/cmdline" % pid)
    if not raw:
        return None
    argv = [a for a in raw.split("\0") if a != ""]
    if len(argv) == 1 and " " in argv[0]:
        text = argv[0].strip()
        while True:
            titled = TITLE.match(text)
            if not titled:
                break
            text = (titled.group(1) or titled.group(2)).strip()
        argv = text.split()
    return argv or None


def proc_environ(files, pid):
    raw = files.read("/proc/%d/environ" % pid) or ""
    return config_env(dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv))


def proc_ids(files, pid):
    """(uid, gid) the process runs as (effective), or (None, None)."""
    text = files.read("/proc/%d/status" % pid) or ""
    ids = {}
    for line in text.splitlines():
        key, dummy, rest = line.partition(":")
        if key in ("Uid", "Gid") and rest.split():
            ids[key] = int(rest.split()[1])
    return ids.get("Uid"), ids.get("Gid")


def children(files, pid):
    """Process ids whose parent is ``pid``, from /proc/*/stat."""
    out = []
    for name in files.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = files.read("/proc/%s/stat" % name) or ""
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.append(int(name))
    return sorted(out)


def service_process(files, pid):
    """(pid, argv) of the process that runs the service for a unit's MainPID: a wrapper
    (shell, start-stop-daemon) is followed to its first child."""
    argv = proc_argv(files, pid)
    for dummy in range(3):
        if not argv or os.path.basename(argv[0]) not in WRAPPERS:
            break
        kids = children(files, pid)
        if not kids:
            break
        child_argv = proc_argv(files, kids[0])
        if not child_argv:
            break
        pid, argv = kids[0], child_argv
    return pid, argv


def id_names(text):
    """{id: name} of an /etc/passwd or /etc/group text."""
    out = {}
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[2].isdigit():
            out.setdefault(int(parts[2]), parts[0])
    return out


def home_of(passwd_text, user):
    for line in (passwd_text or "").splitlines():
        parts = line.split(":")
        if len(parts) > 5 and parts[0] == user:
            return parts[5]
    return None


def mask_argv(argv):
    """argv with the value of any password-like option replaced."""
    out = []
    hide = False
    for arg in argv:
        if hide:
            out.append("********")
            hide = False
            continue
        name, eq, dummy = arg.partition("=")
        if arg.startswith("-") and SECRET_OPTION.search(name):
            if eq:
                out.append(name + "=********")
            else:
                out.append(arg)
                hide = True
            continue
        out.append(arg)
    return out


# -- the program ---------------------------------------------------------------------------

def _is_python(path):
    return re.match(r"^python[0-9.]*$", os.path.basename(path)) is not None


def script_of(argv):
    """The script a Python interpreter in argv[0] runs (None for ``-m`` or ``-c``), or
    argv[0] itself when it is not a Python interpreter."""
    if not argv:
        return None
    if not _is_python(argv[0]):
        return argv[0]
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-m", "-c"):
            return None
        if arg in ("-W", "-X"):
            i += 2
            continue
        if not arg.startswith("-"):
            return arg
        i += 1
    return None


def option_values(argv, names):
    """Every value of the options ``names`` in argv (``--opt X`` and ``--opt=X``)."""
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                out.append(value)
            elif i + 1 < len(argv):
                out.append(argv[i + 1])
                i += 1
        i += 1
    return out


def wsgi_server(argv):
    """The index in argv of a WSGI server program (``uwsgi``, possibly run by a Python
    interpreter as pip's uwsgi wrapper is, Apache, gunicorn), or None."""
    for i, arg in enumerate((argv or [])[:2]):
        name = os.path.basename(arg)
        if name in WSGI_SERVERS or name.startswith("uwsgi"):
            return i
        if not _is_python(arg):
            return None
    return None


def uwsgi_settings(argv, files):
    """{option: [values]} of uwsgi's command line (argv from the uwsgi program on) and of
    the [uwsgi] section of its --ini files (an option may repeat, as ``env`` does)."""
    out = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name, eq, value = arg.lstrip("-").partition("=")
            # pyargv's value is the application's own arguments, starting with "--"
            if not eq and i + 1 < len(argv) and (name == "pyargv" or not argv[i + 1].startswith("-")):
                value = argv[i + 1]
                i += 1
            out.setdefault({"H": "home"}.get(name, name), []).append(value)
        i += 1
    for ini in out.get("ini", []):
        section = None
        for line in (files.read(ini) or "").splitlines():
            text = line.strip()
            if text.startswith("[") and text.endswith("]"):
                section = text[1:-1]
            elif section == "uwsgi" and "=" in text and not text.startswith(("#", ";")):
                key, dummy, value = text.partition("=")
                out.setdefault(key.strip(), []).append(value.strip())
    return out


def find_venv(files, paths):
    """The virtualenv (a directory holding pyvenv.cfg) one of ``paths`` is inside, or None."""
    for path in paths:
        if not path or not path.startswith("/"):
            continue
        current = path if files.isdir(path) else os.path.dirname(path)
        while current and current != "/":
            if files.exists(os.path.join(current, "pyvenv.cfg")):
                return current
            current = os.path.dirname(current)
    return None


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def find_distribution(files, site_dirs, package):
    """(metadata path, version) of PyPI package ``package`` in ``site_dirs``, or (None, None).

    The metadata is a ``NAME-VERSION.dist-info`` directory or a ``NAME-VERSION[-pyX.Y].egg-info``
    directory or file, as pip and Debian's packages install them."""
    want = _normalize(package)
    for site in site_dirs:
        for entry in files.listdir(site):
            match = re.match(r"^(.+?)-([0-9][^-]*?)(-py[0-9.]+)?\.(dist-info|egg-info)$", entry)
            if match and _normalize(match.group(1)) == want:
                return os.path.join(site, entry), match.group(2)
    return None, None


def site_dirs_of(files, venv):
    if venv:
        return files.glob(venv + "/lib/python3*/site-packages") + files.glob(venv + "/lib64/python3*/site-packages")
    out = []
    for pattern in SYSTEM_SITE_GLOBS:
        out += [p for p in files.glob(pattern) if p not in out]
    return out


def release_of(component, version):
    """(number, codename) of the release whose ``component`` is ``version``, or (None, None)."""
    if not version:
        return None, None
    try:
        rel = release_model.release_of_version(component, version)
    except release_model.ReleaseModelError:
        return None, None
    return rel["number"], rel["codename"]


# -- configuration and logs ------------------------------------------------------------

def oslo_default_config(files, project, prog, home):
    """(files, dirs) oslo.config reads when neither --config-file nor --config-dir is
    given (cfg.find_config_files and find_config_dirs)."""
    dirs = [d for d in (os.path.join(home, "." + project) if home else None, home,
                        "/etc/" + project, "/etc") if d]

    def first(name):
        for d in dirs:
            path = os.path.join(d, name)
            if files.exists(path):
                return path
        return None

    names = [project] + ([prog] if prog and prog != project else [])
    found_files = [p for p in (first(n + ".conf") for n in names) if p]
    found_dirs = [p for p in (first(n + ".conf.d") for n in names) if p and files.isdir(p)]
    return found_files, found_dirs


def wsgi_default_config(rule, env):
    """The config files the component's WSGI application reads (catalogue field
    ``wsgi_config``), or None when it falls back to oslo.config's defaults."""
    directory = env.get(rule["dir_env"], "").strip() or rule.get("dir")
    if not directory:
        return None
    names = rule.get("files") or []
    if rule.get("files_env"):
        named = [s.strip() for s in env.get(rule["files_env"], "").split(";") if s.strip()]
        names = named or names
    return [os.path.join(directory, n) for n in names]


def app_arguments(files, argv):
    """The arguments the service's own code parses: argv itself, or under a WSGI server
    the application's, which uwsgi passes in ``--pyargv`` (one string, split as a shell
    would: Debian's neutron-api gets its --config-dir and --config-file that way)."""
    index = wsgi_server(argv)
    if index is None:
        return argv
    if not os.path.basename(argv[index]).startswith("uwsgi"):
        return []
    out = []
    for value in uwsgi_settings(argv[index:], files).get("pyargv", []):
        try:
            out += shlex.split(value)
        except ValueError:
            out += value.split()
    return out


def config_locations(files, component, argv, env, home):
    """(config files in the order oslo.config reads them, config dirs, where that came from)."""
    entry = catalogue.component(component)
    wsgi = wsgi_server(argv) is not None
    app_argv = app_arguments(files, argv)
    cli_files = option_values(app_argv, ("--config-file",))
    cli_dirs = option_values(app_argv, ("--config-dir",))
    script = script_of(argv) or (argv[0] if argv else "")
    prog = re.sub(r"\.py$", "", os.path.basename(script))
    source = []
    conf_files = conf_dirs = None
    if cli_files:
        conf_files, source = cli_files, ["command line"]
    if cli_dirs:
        conf_dirs = cli_dirs
        source = source or ["command line"]
    if conf_files is None and wsgi and entry.get("wsgi_config"):
        conf_files = wsgi_default_config(entry["wsgi_config"], env)
        if conf_files is not None:
            used = [v for v in (entry["wsgi_config"]["dir_env"], entry["wsgi_config"].get("files_env")) if v in env]
            source.append("environment " + ", ".join(used) if used else "%s's WSGI defaults" % component)
    if conf_files is None or conf_dirs is None:
        default_files, default_dirs = oslo_default_config(files, component, prog, home)
        if conf_files is None:
            conf_files = default_files
            source.append("oslo.config defaults of %s/%s" % (component, prog))
        if conf_dirs is None:
            conf_dirs = default_dirs
    read = [f for f in conf_files if files.exists(f)]
    missing = [f for f in conf_files if not files.exists(f)]
    for directory in conf_dirs:
        read += [os.path.join(directory, n) for n in files.listdir(directory) if n.endswith(".conf")]
    return {"config_files": read, "config_dirs": conf_dirs, "config_missing": missing,
            "config_source": "; ".join(source)}


def log_locations(files, argv, config_files, prog):
    """{log_file, log_dir, log_path} as oslo.log works them out; log_path None: journal.
    Under uwsgi, what oslo.log sends to standard error goes to uwsgi's ``logto`` file."""
    app_argv = app_arguments(files, argv)
    log_file = (option_values(app_argv, ("--log-file", "--logfile")) or [None])[-1]
    log_dir = (option_values(app_argv, ("--log-dir", "--logdir")) or [None])[-1]
    if log_file is None and log_dir is None:
        for path in config_files:
            text = files.read(path)
            if not text or not path.endswith((".conf", ".ini")):
                continue
            ini = ini_edit.IniText(text)
            log_file = (ini.values("DEFAULT", "log_file") or ini.values("DEFAULT", "logfile") or [log_file])[-1]
            log_dir = (ini.values("DEFAULT", "log_dir") or ini.values("DEFAULT", "logdir") or [log_dir])[-1]
    log_file, log_dir = log_file or None, log_dir or None
    if log_file and log_dir:
        path = os.path.join(log_dir, log_file)
    elif log_file:
        path = log_file
    elif log_dir:
        path = os.path.join(log_dir, prog + ".log")
    else:
        path = None
        index = wsgi_server(argv)
        if index is not None and os.path.basename(argv[index]).startswith("uwsgi"):
            path = (uwsgi_settings(argv[index:], files).get("logto") or [None])[-1]
    return {"log_file": log_file, "log_dir": log_dir, "log_path": path}


# -- one unit ------------------------------------------------------------------------

def units_wanted(components, extra_units=None):
    """[(unit, component)] of the catalogue's units of ``components`` and the operator's
    extra unit names ({component: [unit]})."""
    out = []
    for name in components:
        entry = catalogue.component(name)
        for unit in entry["units"] + entry["agent_units"] + entry["compute_units"] + list((extra_units or {}).get(name, [])):
            unit = unit if unit.endswith(".service") else unit + ".service"
            if unit not in [u for u, dummy in out]:
                out.append((unit, name))
    return out


def describe_unit(files, unit, component, props, venv_root, passwd, groups):
    """One service's record (before its packages are known; see attach_packages)."""
    record = {"unit": unit, "component": component,
              "load_state": props.get("LoadState", "not-found"),
              "active_state": props.get("ActiveState", "inactive")}
    if record["load_state"] != "loaded":
        record["state"] = "absent"
        return record
    record["unit_file"] = props.get("FragmentPath") or None
    record["drop_ins"] = (props.get("DropInPaths") or "").split()
    pid = int(props.get("MainPID") or 0)
    argv = None
    env = unit_environment(props.get("Environment"))
    uid = gid = None
    if pid > 0 and record["active_state"] in ("active", "activating", "reloading"):
        pid, argv = service_process(files, pid)
        if argv:
            env = dict(env, **proc_environ(files, pid))
            uid, gid = proc_ids(files, pid)
    running = argv is not None
    if not running:
        argv = exec_start_argv(props.get("ExecStart"))
        pid = None
    record["state"] = "running" if running else "stopped"
    record["pid"] = pid
    record["argv"] = mask_argv(argv)
    users, group_names = id_names(passwd), id_names(groups)
    if uid is not None:
        record["user"] = users.get(uid, str(uid))
        record["group"] = group_names.get(gid, str(gid))
    else:
        record["user"] = props.get("User") or "root"
        record["group"] = props.get("Group") or (record["user"] if props.get("User") else "root")
    script = script_of(argv)
    record["program"] = script or (argv[0] if argv else None)
    server = wsgi_server(argv)
    uwsgi = {}
    if server is not None and os.path.basename(argv[server]).startswith("uwsgi"):
        uwsgi = uwsgi_settings(argv[server:], files)
    for key in ("env",):
        for item in uwsgi.get(key, []):
            k, eq, v = item.partition("=")
            if eq and CONFIG_ENV.match(k):
                env[k] = v
    candidates = [script, argv[0] if argv else None]
    for key in ("virtualenv", "home", "venv", "pyhome"):
        candidates += uwsgi.get(key, [])
    for key in ("wsgi-file",):
        candidates += uwsgi.get(key, [])
    venv = find_venv(files, candidates)
    entry = catalogue.component(component)
    dist, version = find_distribution(files, site_dirs_of(files, venv), entry["package"])
    record["python_env"] = venv or "system"
    record["distribution"] = dist
    record["version"] = version
    record["release"], record["codename"] = release_of(component, version)
    if venv:
        record["install_method"] = "venv"
        root = (venv_root or "").rstrip("/")
        record["managed_by"] = "stackhop" if root and venv.startswith(root + "/") else "other"
    else:
        record["install_method"] = None     # apt or dnf once the package owner is known
        record["managed_by"] = "package" if dist else None
    home = env.get("HOME") or home_of(passwd, record["user"])
    record.update(config_locations(files, component, argv, env, home))
    prog = re.sub(r"\.py$", "", os.path.basename(record["program"] or unit[:-len(".service")]))
    record.update(log_locations(files, argv, record["config_files"], prog))
    return record


# -- packages ----------------------------------------------------------------------------

def parse_dpkg_search(text):
    """{path: package} of `dpkg-query -S PATH...` (``pkg1, pkg2: /path``; diversions skipped)."""
    out = {}
    for line in (text or "").splitlines():
        if line.startswith(("diversion by", "local diversion")):
            continue
        pkgs, sep, path = line.partition(": ")
        if sep and path.startswith("/"):
            out[path.strip()] = pkgs.split(",")[0].strip()
    return out


def parse_dpkg_versions(text):
    """{package: version} of `dpkg-query -W -f '${binary:Package}\\t${Version}\\n' PKG...`
    (an architecture qualifier such as ``:amd64`` dropped)."""
    out = {}
    for line in (text or "").splitlines():
        name, sep, version = line.partition("\t")
        if sep and version.strip():
            out[name.split(":")[0]] = version.strip()
    return out


def parse_rpm_owners(paths, text):
    """{path: (package, version)} of `rpm -qf --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'
    PATH...`, one line per path in order ("... is not owned by any package" otherwise)."""
    out = {}
    lines = (text or "").splitlines()
    for path, line in zip(paths, lines):
        name, sep, version = line.partition("\t")
        if sep:
            out[path] = (name, version.strip())
    return out


def package_paths(services):
    """The files whose owning package tells how a service was installed: the code's
    metadata and the unit file, for services not in a virtualenv."""
    out = []
    for record in services:
        if record.get("state") in (None, "absent") or record.get("install_method") == "venv":
            continue
        for path in (record.get("distribution"), record.get("unit_file")):
            if path and path not in out:
                out.append(path)
    return out


def attach_packages(services, owners, method):
    """Set install_method (``method``: apt or dnf) and packages ({name: version}) of the
    services whose files ``owners`` ({path: (package, version)}) has."""
    for record in services:
        if record.get("state") in (None, "absent") or record.get("install_method") == "venv":
            continue
        packages = {}
        for path in (record.get("distribution"), record.get("unit_file")):
            if path in owners:
                name, version = owners[path]
                packages[name] = version
        record["packages"] = packages
        if record.get("distribution") in owners:
            record["install_method"] = method


# -- the summary ---------------------------------------------------------------------------

def _where(record):
    if record.get("install_method") == "venv":
        return "venv %s" % record["python_env"]
    if record.get("packages"):
        return "%s %s" % (record["install_method"], ", ".join(
            "%s %s" % kv for kv in sorted(record["packages"].items())))
    return record.get("program") or "?"


def unknown_reason(host, record):
    """A sentence naming the host, the service and what was found, when stackhop cannot
    tell what code a service runs; None when it can."""
    if record["state"] == "absent":
        return None
    if record.get("distribution") is None:
        return ("On %s, %s runs %s in %s, where no %s package metadata was found: point the "
                "unit at the service's installation, or name its units in extra_units."
                % (host, record["unit"], record.get("program") or "no program",
                   record.get("python_env"), catalogue.component(record["component"])["package"]))
    if record.get("install_method") is None:
        return ("On %s, %s runs code from %s, which no package manager owns and no virtualenv "
                "holds: reinstall it from packages or into a virtualenv before the upgrade."
                % (host, record["unit"], record["distribution"]))
    if record.get("release") is None:
        return ("On %s, %s runs %s %s, which is no release stackhop knows: check the version, "
                "or extend the release model." % (host, record["unit"], record["component"],
                                                  record.get("version")))
    return None


def summarise(host, services):
    """{component: summary} and the problems (one sentence each) of the services found.

    A component's summary: the units present, its release and install method when every
    running unit agrees (the stopped ones when none runs), its user and group, ``state``
    ``ok``, ``mixed`` (units of different releases, install methods or environments),
    ``unknown`` (a unit whose code cannot be told) or ``absent``; ``releases`` of the units
    judged and ``problems``, the sentences about it."""
    out = {}
    problems = []
    by_component = {}
    for record in services:
        by_component.setdefault(record["component"], []).append(record)
    for component, records in by_component.items():
        present = [r for r in records if r["state"] != "absent"]
        summary = {"units": [r["unit"] for r in present], "state": "absent", "release": None,
                   "install_method": None, "python_env": None, "user": None, "group": None,
                   "running": [r["unit"] for r in present if r["state"] == "running"],
                   "releases": [], "problems": []}
        out[component] = summary
        if not present:
            continue
        reasons = [s for s in (unknown_reason(host, r) for r in present) if s]
        if reasons:
            summary.update(state="unknown", problems=reasons)
            problems += reasons
            continue
        judged = [r for r in present if r["state"] == "running"] or present
        summary["releases"] = sorted(set(r["release"] for r in judged))
        kinds = sorted(set((r["release"], r["install_method"], r["python_env"]) for r in judged))
        if len(kinds) > 1:
            summary["state"] = "mixed"
            summary["problems"] = ["On %s, %s is mixed: %s; upgrade or reinstall them to one release "
                                   "and one installation before the upgrade."
                                   % (host, component, "; ".join("%s %s (%s)" % (
                                       r["unit"][:-len(".service")], r["release"], _where(r)) for r in judged))]
            problems += summary["problems"]
            continue
        first = judged[0]
        packages = {}
        for record in judged:      # each unit's own packages: neutron-api, -rpc-server, agents
            packages.update(record.get("packages", {}))
        summary.update(state="ok", release=first["release"], install_method=first["install_method"],
                       python_env=first["python_env"], managed_by=first.get("managed_by"),
                       user=first["user"], group=first["group"], packages=packages)
    return out, problems


# -- what the plan and the pre-flight make of it -------------------------------------------

def _how(summary):
    """``2024.1 (venv /opt/v, stackhop's, as nova:nova)`` of an ``ok`` component."""
    if summary["install_method"] == "venv":
        how = "venv %s%s" % (summary["python_env"], ", stackhop's" if summary.get("managed_by") == "stackhop" else "")
    else:
        how = "%s %s" % (summary["install_method"], ", ".join(
            "%s %s" % kv for kv in sorted((summary.get("packages") or {}).items())) or "packages")
    return "%s (%s, as %s:%s)" % (summary["release"], how, summary["user"], summary["group"])


def describe_component(name, summary):
    """One component as the plan prints it: ``nova 2024.1 (venv /opt/v, stackhop's, as
    nova:nova)``; ``nova: mixed``, ``nova: unknown``."""
    if summary["state"] != "ok":
        return "%s: %s" % (name, summary["state"])
    return "%s %s" % (name, _how(summary))


def host_lines(result):
    """(what runs, one line; the components not found) of one host's discovery result.
    Components installed alike are named together: ``keystone, nova 2024.1 (venv ...)``."""
    comps = result.get("components") or {}
    groups = []                  # [(how, [names])] in catalogue order of first appearance
    for name, comp in comps.items():
        if comp["state"] == "absent":
            continue
        how = _how(comp) if comp["state"] == "ok" else None
        if how is not None and not comp.get("running"):
            how += ", stopped"       # e.g. the old side after a blue-green switch
        for group in groups:
            if how is not None and group[0] == how:
                group[1].append(name)
                break
        else:
            groups.append((how, [name]))
    present = [("%s %s" % (", ".join(names), how)) if how else describe_component(names[0], comps[names[0]])
               for how, names in groups]
    absent = [n for n, c in comps.items() if c["state"] == "absent"]
    return "; ".join(present) or "nothing of OpenStack", absent


def preflight_rows(host, result, current, target, new_controller=False):
    """The pre-flight's rows (check ``discovery``) of one host's discovery result.

    Failures: discovery itself failed on the host; each problem (unknown or mixed code);
    a component running a release that is neither the region's current release nor the
    target (the inventory does not say what runs, or an earlier upgrade stopped half-way
    on another path). Else one ``ok`` row saying what runs. A blue-green target running
    nothing is expected."""
    rows = []

    def row(status, message, target_name=""):
        rows.append({"check": "discovery", "host": host, "target": target_name,
                     "status": status, "message": message})

    if "components" not in result:       # the module failed (registered with failed_when: false)
        row("failure", "discovery failed on %s: %s" % (host, (result.get("msg") or "no message").rstrip(".")))
        return rows
    allowed = [r for r in (current, target) if r]
    midway = []
    for name, comp in (result.get("components") or {}).items():
        if comp["state"] == "mixed" and allowed and set(comp.get("releases") or [None]) <= set(allowed):
            # the upgrade's own state: some units already at the target (a resumed run)
            midway.append("%s part at %s" % (name, ", part at ".join(comp["releases"])))
            continue
        for problem in comp.get("problems") or []:
            row("failure", problem, name)
        # units left stopped (the old side after a blue-green switch) run no release
        if comp["state"] == "ok" and comp.get("running") and allowed and comp["release"] not in allowed:
            row("failure", "On %s, %s runs %s, but the region is declared %s -> %s "
                           "(stackhop_current_release, stackhop_target_release): set them to what "
                           "runs, or bring %s to %s first" % (
                               host, name, _how(comp), current, target, name, current), name)
    if not rows:
        runs, absent = host_lines(result)
        if runs == "nothing of OpenStack" and new_controller:
            runs = "nothing yet (the blue-green target gets its release during the upgrade)"
        row("ok", runs + ("; not found: %s" % ", ".join(absent) if absent and runs else "")
            + ("; midway between the releases (a resumed upgrade finishes it): %s" % "; ".join(midway)
               if midway else ""))
    return rows


def plan_section(discovered, current, install_method):
    """(lines, warnings) of the plan's "What runs" section: {host: discovery result}."""
    lines = []
    warnings = []
    for host in sorted(discovered):
        result = discovered[host] or {}
        if "components" not in result:
            lines.append("%s: not read (%s)" % (host, (result.get("msg") or "unreachable").strip()))
            continue
        runs, dummy = host_lines(result)
        lines.append("%s: %s" % (host, runs))
        warnings += list(result.get("problems") or [])
        for name, comp in (result.get("components") or {}).items():
            if comp["state"] != "ok" or not comp.get("running"):
                continue
            if current and comp["release"] != current:
                warnings.append("On %s, %s runs %s, not the current release %s the plan starts from."
                                % (host, name, comp["release"], current))
            if install_method and comp["install_method"] != install_method:
                warnings.append("On %s, %s is installed by %s, not %s as stackhop_install_method says."
                                % (host, name, comp["install_method"], install_method))
    return lines, warnings
