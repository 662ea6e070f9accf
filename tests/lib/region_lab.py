"""Labs for the endpoint switch, verify and rollback tests (helper vr).

``hosts_lab(name)`` brings up only the four lab hosts of lab/inventory/hosts.yml (a few
seconds); ``region_lab(name)`` deploys the whole 2024.1 region with scripts/lab-up.sh
(7-15 min on 2 shared cores). ``STACKHOP_LAB_REGION=<lab>`` reuses a lab region that is
already deployed (it is left running).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO, VENV, ansible_env

LAB_UP = REPO / "scripts" / "lab-up.sh"


def _lab_up(name, hosts_only):
    argv = [str(LAB_UP), "--lab", name] + (["--hosts-only"] if hosts_only else [])
    env = dict(os.environ, STACKHOP_VENV=str(VENV), PATH="%s:%s" % (VENV / "bin", os.environ["PATH"]))
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=str(REPO), env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    if proc.returncode != 0:
        raise AssertionError("lab-up %s failed:\n%s\n%s" % (name, proc.stdout[-4000:], proc.stderr[-2000:]))
    return time.monotonic() - t0


def kept_lab_is_up(name):
    """Whether a lab kept from an earlier session (its inventory written, its hosts up) can be used as it is."""
    if not ((REPO / "build" / "lab" / name / "hosts.yml").exists() and Lab(name).state()):
        return False
    status = subprocess.run([str(VENV / "bin" / "python"), str(REPO / "lab" / "labctl.py"), "status", "--lab", name],
                            capture_output=True, check=False)
    return status.returncode == 0


def lab_up(name, args=(), env=None, timeout=4800, keep=False, sampler=None):
    """A fresh lab ``name`` from scripts/lab-up.sh ``args`` (its log in build/reports), the
    seconds it took; an earlier lab of that name is destroyed first. ``sampler``: a context
    manager (the argv sampler) around the run. A failure keeps the lab's logs, destroys it
    unless ``keep``, and fails the test with the log's end."""
    import contextlib  # pylint: disable=import-outside-toplevel
    import pytest  # pylint: disable=import-outside-toplevel

    from tests.lib.lab_logs import keep_logs  # pylint: disable=import-outside-toplevel

    lab = Lab(name)
    log = REPO / "build" / "reports" / ("lab-up-%s.log" % name)
    log.parent.mkdir(parents=True, exist_ok=True)
    lab.destroy()
    argv = [str(LAB_UP), "--lab", name] + list(args)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log, "w"))  # pylint: disable=consider-using-with
        if sampler is not None:
            stack.enter_context(sampler)
        proc = subprocess.run(argv, cwd=str(REPO), env=ansible_env(dict({"STACKHOP_VENV": str(VENV)}, **(env or {}))),
                              stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        keep_logs(name)
        if not keep:
            lab.destroy()
        pytest.fail("%s%s: rc %s after %.0f s; log %s\n%s" % (
            "".join("%s=%s " % kv for kv in sorted((env or {}).items())), " ".join(argv[0:1] + argv[1:]),
            proc.returncode, took, log, log.read_text(errors="replace")[-4000:]))
    return took


class RegionLab:
    """A lab from lab/inventory/hosts.yml and its inventory."""

    def __init__(self, name, owned, seconds=0.0):
        self.name = name
        self.lab = Lab(name)
        self.owned = owned
        self.seconds = seconds
        self.inventory = REPO / "build" / "lab" / name / "hosts.yml"
        if name == "stackhop":
            self.inventory = REPO / "lab" / "inventory" / "hosts.yml"
        self._listed = self._list()
        self.hostvars = self._listed["_meta"]["hostvars"]

    def _list(self):
        out = subprocess.run([str(VENV / "bin" / "ansible-inventory"), "-i", str(self.inventory), "--list"],
                             env=ansible_env(), capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    def group_hosts(self, group):
        """The hosts of an inventory group and of its children, in the inventory's order."""
        entry = self._listed.get(group) or {}
        hosts = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            hosts += [h for h in self.group_hosts(child) if h not in hosts]
        return hosts

    def exec(self, host, *argv, check=True, input=None):
        return self.lab.exec(host, [str(a) for a in argv], check=check, input=input)

    def mac(self, host, dev="eth0"):
        return json.loads(self.exec(host, "ip", "-j", "link", "show", dev).stdout)[0]["address"]

    def neighbour(self, host, address):
        for entry in json.loads(self.exec(host, "ip", "-j", "neigh", "show", address).stdout or "[]"):
            if entry.get("dst") == address:
                return entry.get("lladdr")
        return None

    def addresses(self, host, dev="eth0"):
        links = json.loads(self.exec(host, "ip", "-j", "addr", "show", "dev", dev).stdout)
        return [i["local"] for link in links for i in link.get("addr_info", [])]

    def playbook(self, playbook, extra_vars=None, check=False, env=None, timeout=1800, limit=None):
        """ansible-playbook on this lab with the json callback; returns (proc, doc)."""
        argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory), str(playbook)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if limit:
            argv += ["--limit", limit]
        full_env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
        full_env.update(env or {})
        proc = subprocess.run(argv, env=ansible_env(full_env), cwd=str(REPO), capture_output=True,
                              text=True, timeout=timeout, check=False)
        start = proc.stdout.find("{")
        try:
            doc = json.JSONDecoder().raw_decode(proc.stdout[start:])[0] if start >= 0 else {}
        except ValueError:
            doc = {}
        return proc, doc

    def destroy(self):
        if self.owned:
            subprocess.run([sys.executable, str(REPO / "lab" / "labctl.py"), "destroy",
                            "--lab", self.name], check=False, capture_output=True)


def controllers_at_release(inventory, release):
    """A lab inventory's own group_vars whose controllers run ``release`` while its computes
    keep the current one (the compute rehearsals start from that region): the lab's
    group_vars/all linked, stackhop_controllers.yml written."""
    gv = Path(inventory).parent / "group_vars"
    if gv.is_symlink():
        gv.unlink()
    gv.mkdir(exist_ok=True)
    if not (gv / "all").exists():
        (gv / "all").symlink_to(REPO / "lab" / "inventory" / "group_vars" / "all")
    (gv / "stackhop_controllers.yml").write_text(
        "---\n# The control plane at the target release, the computes at the current one.\n"
        "stackhop_release: \"%s\"\n" % release)


def failed_tasks(doc):
    """[(task name, host, msg)] of a json-callback document."""
    out = []
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("failed") and not res.get("ignore_errors"):
                    out.append((task["task"]["name"], host, str(res.get("msg"))[:600]))
    return out


def task_results(doc, name_part):
    """{host: result} of every task whose name contains name_part (last one wins)."""
    out = {}
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            if name_part in task["task"]["name"]:
                out.update(task.get("hosts", {}))
    return out


def hosts_lab(name):
    """The four hosts only: the given region lab if STACKHOP_LAB_REGION names one, else ``name``."""
    reuse = os.environ.get("STACKHOP_LAB_REGION")
    if reuse:
        return RegionLab(reuse, owned=False)
    seconds = _lab_up(name, hosts_only=True)
    return RegionLab(name, owned=True, seconds=seconds)


def region_lab(name):
    reuse = os.environ.get("STACKHOP_LAB_REGION")
    if reuse:
        return RegionLab(reuse, owned=False)
    seconds = _lab_up(name, hosts_only=False)
    return RegionLab(name, owned=True, seconds=seconds)


def region_vars(lab):
    """The region's group vars as the lab sees them (service addresses...)."""
    data = yaml.safe_load((REPO / "lab" / "inventory" / "group_vars" / "all" / "lab_region.yml").read_text())
    return data


def write_play(path, plays):
    Path(path).write_text(json.dumps(plays, indent=1))
    return Path(path)


# HAProxy's runtime API on a lab host, asked with the host's python3 (no socat there)
HAPROXY_ADMIN_CLIENT = ("import socket, sys\n"
                        "s = socket.socket(socket.AF_UNIX)\n"
                        "s.connect('/run/haproxy/admin.sock')\n"
                        "s.sendall(sys.argv[1].encode() + b'\\n')\n"
                        "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())\n")


def haproxy_stat_rows(region, host):
    """The rows of ``show stat`` (dicts by CSV column) of the HAProxy on ``host``."""
    out = region.exec(host, "python3", "-c", HAPROXY_ADMIN_CLIENT, "show stat").stdout
    lines = out.lstrip("# ").splitlines()
    return [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:] if line]
