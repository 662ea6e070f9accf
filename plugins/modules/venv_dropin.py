#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: venv_dropin
short_description: Run a packaged OpenStack service from a virtualenv, keeping the package's unit
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - NHN moved its services from packages to per-release virtualenvs. This module does it for
    one systemd unit. The package's unit stays, with its name, user, runtime and log
    directories and config paths. A drop-in
    (C(/etc/systemd/system/<unit>.service.d/stackhop-venv.conf)) replaces only the command,
    with the same arguments, run from O(venv).
  - The command line is the one the package's unit really runs, read from C(/proc) past
    Debian's C(/etc/init.d/<name> systemd-start) wrapper. It is recorded in O(record_dir) the
    first time, so a later hop (one venv to the next) and a stopped unit start from the
    package's own arguments.
  - A uwsgi service (keystone, placement, nova-api, neutron-api, cinder-api on Debian) runs
    the venv's uwsgi with the same arguments, so its ini keeps the operator's tuning. Its
    C(wsgi-file) is given again as the venv's script of the same name.
  - O(state=absent) removes the drop-in; the package's code runs again (rollback).
  - The unit is restarted when the drop-in changed (O(restart)), and must be active O(settle)
    seconds later, running from the venv, or the task fails naming the unit and its journal.
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  unit:
    description: The package's systemd unit, for example C(nova-conductor) or C(keystone.service).
    type: str
    required: true
  venv:
    description: The virtualenv to run it from (its C(bin) holds the service's program). Required with O(state=present).
    type: path
  state:
    description:
      - C(present) - runs from O(venv). C(absent) - runs the package's code.
      - C(recorded) - only records the package's command line while the unit runs it, so a move
        after the unit was stopped (an upgrade stops it for the schema migrations) starts from it;
        no drop-in is written or removed.
    type: str
    choices: [present, absent, recorded]
    default: present
  restart:
    description: Restart the unit when its drop-in changed (a stopped unit stays stopped).
    type: bool
    default: true
  settle:
    description: Seconds the restarted unit must stay active.
    type: int
    default: 5
  wsgi_file:
    description:
      - For a uwsgi service, the WSGI script to load from the venv when the package's
        C(wsgi-file) has no script of the same name in O(venv).
    type: path
  uwsgi_options:
    description:
      - For a uwsgi service, settings given on its command line after its ini, so they win
        over the ini's (uwsgi takes the last value); the ini itself is not changed.
      - The roles pass the component catalogue's, for example C(threads=1) for neutron-api,
        whose eventlet-patched code hangs a request when uwsgi runs several threads.
    type: dict
  record_dir:
    description: Where the package's command line of each unit is recorded.
    type: path
    default: /var/lib/stackhop/units
  venv_root:
    description: Where stackhop's venvs live; a process running from below it is not taken for the package's.
    type: path
    default: /opt/stackhop/venvs
attributes:
  check_mode:
    support: full
    details: Returns the drop-in it would write or remove; records, writes and restarts nothing.
  diff_mode:
    support: full
    details: The drop-in's content before and after.
"""

EXAMPLES = r"""
- name: Run nova-conductor from the 2024.1 venv
  stackhop.upgrade.venv_dropin:
    unit: nova-conductor
    venv: /opt/stackhop/venvs/2024.1

- name: Back to the package's code (rollback)
  stackhop.upgrade.venv_dropin:
    unit: nova-conductor
    state: absent
"""

RETURN = r"""
path:
  description: The drop-in file.
  returned: always
  type: str
exec_start:
  description: The command line the unit runs after the task (the drop-in's, or the package's).
  returned: always
  type: list
  elements: str
package_argv:
  description: The package's command line, as recorded.
  returned: always
  type: list
  elements: str
main_pid:
  description: The unit's main process after the task (0 when stopped).
  returned: always
  type: int
executed_commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import json
import os
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils import discovery
from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
    read_text,
    write_text,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.venv_move import (
    VenvMoveError,
    command_source,
    dropin_text,
    venv_argv,
)

DROPIN_NAME = "stackhop-venv.conf"
PROPERTIES = ["Id", "LoadState", "ActiveState", "MainPID", "FragmentPath", "DropInPaths", "User", "Group"]


class VenvDropin(StackhopModule):
    argument_spec = dict(
        unit=dict(type="str", required=True),
        venv=dict(type="path"),
        state=dict(type="str", choices=["present", "absent", "recorded"], default="present"),
        restart=dict(type="bool", default=True),
        settle=dict(type="int", default=5),
        wsgi_file=dict(type="path"),
        uwsgi_options=dict(type="dict"),
        record_dir=dict(type="path", default="/var/lib/stackhop/units"),
        venv_root=dict(type="path", default="/opt/stackhop/venvs"),
    )
    module_kwargs = dict(required_if=[("state", "present", ["venv"])])

    def _show(self, unit, record=True):
        systemctl = self.get_bin_path("systemctl", "the unit is systemd's; run this on a systemd host")
        dummy, out, dummy_err = self.run_command(
            [systemctl, "show", "--no-pager", "--property=" + ",".join(PROPERTIES), "--", unit], record=record)
        shown = discovery.parse_systemctl_show(out)
        props = shown.get(unit) or (list(shown.values()) or [{}])[0]
        if props.get("LoadState") != "loaded":
            raise StackhopError("unit %s is not loaded on this host (%s); check its name with systemctl "
                                "list-units" % (unit, props.get("LoadState") or "unknown"))
        return props

    def _running_argv(self, props):
        pid = int(props.get("MainPID") or 0)
        if pid <= 0 or props.get("ActiveState") not in ("active", "reloading"):
            return None
        dummy_pid, argv = discovery.service_process(discovery.HostFiles("/"), pid)
        return argv

    def _systemctl(self, *args):
        self.run_command([self.get_bin_path("systemctl")] + list(args))

    def _wait_active(self, unit, venv):
        deadline = time.monotonic() + max(self.params["settle"], 1) + 60
        stable_since = None
        while time.monotonic() < deadline:
            props = self._show(unit, record=False)   # polled: not a command worth listing
            argv = self._running_argv(props) or []
            good = props.get("ActiveState") == "active" and (
                venv is None or any(a.startswith(venv.rstrip("/") + "/") for a in argv[:2]))
            if good:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= self.params["settle"]:
                    return props, argv
            else:
                stable_since = None
            time.sleep(1)
        raise StackhopError("%s did not stay active %s after its restart; read journalctl -u %s"
                            % (unit, "from %s" % venv if venv else "on the package's code", unit))

    def run(self):
        params = self.params
        unit = params["unit"] if params["unit"].endswith(".service") else params["unit"] + ".service"
        props = self._show(unit)
        path = "/etc/systemd/system/%s.d/%s" % (unit, DROPIN_NAME)
        record_path = os.path.join(params["record_dir"], unit + ".json")
        have = read_text(path)
        record = None
        if read_text(record_path):
            try:
                record = json.loads(read_text(record_path))
            except ValueError:
                raise StackhopError("%s is not stackhop's record of %s's command line; remove it while "
                                    "the unit runs its package's code" % (record_path, unit))
        running = self._running_argv(props)
        argv, record_it = command_source(record, running, have is not None, params["venv_root"])
        if argv is None:
            argv = []
        if not argv and params["state"] != "absent" and have is None:
            raise StackhopError("%s %s and %s holds no record of its package's command line; start it on its "
                                "package's code and run again" % (unit, "runs from a venv" if running else "is not running",
                                                                  record_path))
        want = None
        if params["state"] == "recorded":
            want = have
            exec_start = argv
        elif params["state"] == "present":
            venv = params["venv"].rstrip("/")
            bin_dir = os.path.join(venv, "bin")
            if not os.path.isdir(bin_dir):
                raise StackhopError("venv %s has no bin directory on this host; stage the release first"
                                    % venv)
            settings = discovery.uwsgi_settings(argv, discovery.HostFiles("/")) if argv else {}
            wsgi_file = params["wsgi_file"] or (settings.get("wsgi-file") or [None])[-1]
            try:
                new_argv = venv_argv(unit, argv, venv, set(os.listdir(bin_dir)), wsgi_file,
                                     params["uwsgi_options"])
            except VenvMoveError as exc:
                raise StackhopError(str(exc))
            if params["wsgi_file"] and "--wsgi-file" not in new_argv:
                new_argv += ["--wsgi-file", params["wsgi_file"]]
            want = dropin_text(unit, venv, new_argv, props.get("User") or None, props.get("Group") or None,
                               unit_has_user=bool(props.get("User")))
            exec_start = new_argv
        else:
            exec_start = argv
        # a new record is a change too: the first sight of the package's command line
        changed = have != want or record_it
        main_pid = int(props.get("MainPID") or 0)
        if not self.check_mode:
            if record_it:
                write_text(record_path, json.dumps({"unit": unit, "argv": argv}, indent=1) + "\n", 0o600)
            if have != want:
                if want is None:
                    os.remove(path)
                    if not os.listdir(os.path.dirname(path)):
                        os.rmdir(os.path.dirname(path))
                else:
                    write_text(path, want)
                self._systemctl("daemon-reload")
                if params["restart"] and props.get("ActiveState") in ("active", "activating", "reloading"):
                    self._systemctl("restart", unit)
                    props, dummy = self._wait_active(unit, params["venv"] if want else None)
                    main_pid = int(props.get("MainPID") or 0)
        result = {"changed": changed, "path": path, "exec_start": exec_start, "package_argv": argv,
                  "main_pid": main_pid}
        if self.diff_mode:
            result["diff"] = {"before": have or "", "after": want or "", "before_header": path,
                              "after_header": path}
        return result


def main():
    VenvDropin()()


if __name__ == "__main__":
    main()
