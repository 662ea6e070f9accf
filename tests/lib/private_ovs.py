"""A private Open vSwitch (own rundir, userspace datapath, own network namespace).

Used by the tests, the benchmarks and the demo alike. Nothing here touches a system
OVS: every daemon, socket and database lives under ``rundir``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.lib.netns import Netns, sh

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class PrivateOvs:
    def __init__(self, rundir, netns_name, dummy=False):
        # dummy=True: every interface is an in-memory dummy (no kernel devices), for
        # OVSDB-heavy benchmarks with thousands of ports and no traffic.
        self.dummy = dummy
        self.rundir = Path(rundir)
        self.netns_name = netns_name
        self.netns = None
        self.env = dict(os.environ, OVS_RUNDIR=str(self.rundir), OVS_DBDIR=str(self.rundir),
                        OVS_LOGDIR=str(self.rundir), OVS_PKGDATADIR="/usr/share/openvswitch")
        self.db = "unix:%s" % (self.rundir / "db.sock")

    def _run(self, *argv, check=True, netns=False):
        full = (["ip", "netns", "exec", self.netns_name] if netns else []) + [str(a) for a in argv]
        proc = subprocess.run(full, env=self.env, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(full), proc.stderr.strip()))
        return proc.stdout

    def start(self):
        self.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)
        self.rundir.mkdir(parents=True)
        self.netns = Netns(self.netns_name)
        r = self.rundir
        self._run("ovsdb-tool", "create", r / "conf.db", SCHEMA)
        self._run("ovsdb-server", r / "conf.db", "--remote=punix:%s" % (r / "db.sock"),
                  "--pidfile=%s" % (r / "ovsdb-server.pid"), "--detach",
                  "--log-file=%s" % (r / "ovsdb-server.log"),
                  "--unixctl=%s" % (r / "ovsdb-server.ctl"))
        self.vsctl("--no-wait", "init")
        self._run("ovs-vswitchd", self.db, "--pidfile=%s" % (r / "ovs-vswitchd.pid"),
                  "--detach", "--log-file=%s" % (r / "ovs-vswitchd.log"),
                  "--unixctl=%s" % (r / "ovs-vswitchd.ctl"),
                  *(["--enable-dummy=override"] if self.dummy else []), netns=True)
        return self

    def _pids(self):
        pids = []
        for name in ("ovs-vswitchd", "ovsdb-server"):
            f = self.rundir / ("%s.pid" % name)
            try:
                pids.append(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def stop(self):
        for pid in self._pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        for pid in self._pids():
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.netns:
            self.netns.delete()
        else:
            sh("ip", "netns", "del", self.netns_name, check=False)

    # -- tools ------------------------------------------------------------------
    def vsctl(self, *args):
        return self._run("ovs-vsctl", "--db=%s" % self.db, "--timeout=20", *args)

    def ofctl(self, *args):
        return self._run("ovs-ofctl", *args)

    def appctl(self, *args):
        return self._run("ovs-appctl", "-t", self.rundir / "ovs-vswitchd.ctl", *args)

    def mgmt(self, bridge):
        return "unix:%s" % (self.rundir / ("%s.mgmt" % bridge))

    def add_bridge(self, name, protocols=None, fail_mode=None):
        args = ["--may-exist", "add-br", name, "--", "set", "Bridge", name,
                "datapath_type=netdev"]
        if protocols:
            args += ["protocols=%s" % ",".join(protocols)]
        if fail_mode:
            args += ["fail_mode=%s" % fail_mode]
        self.vsctl(*args)

    def add_internal_port(self, bridge, port, **columns):
        """A port with a dummy (internal) interface: enough for OVSDB-only tests."""
        args = ["add-port", bridge, port, "--", "set", "Interface", port, "type=internal"]
        self.vsctl(*args)
        for key, value in columns.items():
            self.vsctl("set", "Port", port, "%s=%s" % (key, value))
