"""Helpers of the control-plane lab tests (helper cp): run playbooks on a lab region with
the report callback, stream their output to a log, act when a line appears (failure
injection), and read what the report recorded.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.lib.ansible_runner import REPO, VENV, ansible_env

PLAYBOOK = REPO / "playbooks" / "upgrade_control_plane.yml"
OUT = REPO / "build" / "cp-test"
COMPONENTS = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
CONTROL_UNITS = {
    "keystone": ["keystone"], "glance": ["glance-api"], "placement": ["placement-api"],
    "nova": ["nova-api", "nova-conductor", "nova-scheduler"],
    "neutron": ["neutron-server"], "cinder": ["cinder-api", "cinder-scheduler", "cinder-volume"],
}


def side_addresses(region, old, new, variable, what, variant, rehearsal):
    """{old: address, new: address} of a lab whose variant gives the new side ``what``
    (its inventory sets ``variable``); refused with the command that brings it up."""
    hv = region.hostvars
    assert variable in hv[old], ("this lab has no %s: bring it up with STACKHOP_LAB_VARIANT=%s "
                                 "(scripts/rehearse.sh %s does)" % (what, variant, rehearsal))
    return {old: hv[old]["ansible_host"], new: hv[new]["ansible_host"]}


def log(msg):
    print("[cp-lab %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Run:
    """One ansible-playbook run: return code, seconds, log file, report directory."""

    def __init__(self, rc, seconds, logfile, report_dir, run_json):
        self.rc = rc
        self.seconds = seconds
        self.log = logfile
        self.report_dir = report_dir
        self.record = run_json

    @property
    def text(self):
        return self.log.read_text(errors="replace")

    def changed(self):
        return {h: v["changed"] for h, v in (self.record or {}).get("hosts", {}).items()}

    def failures(self):
        return {h: v["failures"] + v["unreachable"]
                for h, v in (self.record or {}).get("hosts", {}).items()}


def run_playbook(lab, playbook, name, extra_vars=None, report_dir=None, triggers=(),
                 timeout=3600, interrupt_on=None, flags=()):
    """Run ``playbook`` on ``lab``; ``triggers``: [(regex, callable)] fired once each when
    a line of the output matches; ``interrupt_on``: regex whose line makes the run get
    SIGINT, the operator's Ctrl-C; ``flags``: more ansible-playbook options (``--check``)."""
    OUT.mkdir(parents=True, exist_ok=True)
    logfile = OUT / ("%s.log" % name)
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(lab.inventory), str(playbook)] + list(flags)
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    env = {"ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"}
    if report_dir:
        env["STACKHOP_REPORT_DIR"] = str(report_dir)
    pending = list(triggers)
    started = time.monotonic()
    started_wall = datetime.datetime.now(datetime.timezone.utc)
    with open(logfile, "w") as out:
        proc = subprocess.Popen(argv, env=ansible_env(env), cwd=str(REPO), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1,
                                start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        interrupted = False
        interrupted_again = 0
        try:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                for item in list(pending):
                    if re.search(item[0], line):
                        pending.remove(item)
                        log("%s: trigger on %r" % (name, line.strip()[:120]))
                        try:
                            item[1]()
                        except Exception as exc:  # pylint: disable=broad-except
                            # the run goes on and is judged by its result
                            log("%s: trigger failed: %s" % (name, exc))
                if interrupt_on and not interrupted and re.search(interrupt_on, line):
                    interrupted = True
                    log("%s: Ctrl-C (SIGINT) on %r" % (name, line.strip()[:120]))
                    os.killpg(proc.pid, signal.SIGINT)
                elif interrupted and line.startswith("TASK [") and interrupted_again < 3:
                    # ansible-playbook raises KeyboardInterrupt from its signal handler; when
                    # that lands in a weakref callback Python prints "Exception ignored" and
                    # the run goes on: press Ctrl-C again, as an operator would
                    interrupted_again += 1
                    log("%s: the run went on; Ctrl-C again on %r" % (name, line.strip()[:120]))
                    os.killpg(proc.pid, signal.SIGINT)
            rc = proc.wait()
        finally:
            timer.cancel()
    seconds = time.monotonic() - started
    record = None
    if report_dir:
        for path in sorted(Path(report_dir, "runs").glob("*.json")):
            data = json.loads(path.read_text())
            if data.get("start", "") >= started_wall.strftime("%Y-%m-%dT%H:%M:%S"):
                record = data
    log("%s: rc=%d in %.0f s (log %s)" % (name, rc, seconds, logfile))
    return Run(rc, seconds, logfile, report_dir, record)


def report(report_dir):
    path = Path(report_dir) / "report.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def component_seconds(run):
    """Wall seconds per component (first phase start to last phase end) of one run."""
    spans = {}
    for phase in (run.record or {}).get("phases", []):
        comp = phase["component"]
        if comp in COMPONENTS or comp == "release_code":
            lo, hi = spans.get(comp, (None, None))
            start, end = _ts(phase["start"]), _ts(phase["end"])
            spans[comp] = (start if lo is None else min(lo, start), end if hi is None else max(hi, end))
    return {c: round(hi - lo, 1) for c, (lo, hi) in spans.items()}


def api_downtime(report_dir):
    """{service: (seconds down, longest window, windows)} from the report's API probes."""
    out = {}
    api = report(report_dir).get("api") or []
    # report.json lists one entry per service ({service, down_s, longest_s, down})
    entries = api.items() if isinstance(api, dict) else [(a.get("service"), a) for a in api]
    for service, data in entries:
        out[service] = (round(data.get("down_s", 0.0), 2), round(data.get("longest_s", 0.0), 2),
                        len(data.get("down", [])))
    return out


def probe_check_figures(part):
    """The figures of one authenticated check (a service's ``reads`` or ``writes`` in the
    report's API entry): calls, failed calls, windows, the longest, objects made."""
    if not part:
        return None
    return {"calls": part.get("polls"), "failed": part.get("failed_polls"),
            "not_made_no_token": part.get("skipped_polls"), "windows": len(part.get("down") or []),
            "down_s": part.get("down_s"), "longest_s": part.get("longest_s"),
            "reasons": sorted({w.get("reason") for w in part.get("down") or []})[:6],
            "created": part.get("created"), "deleted": part.get("deleted"),
            "leftovers": part.get("leftovers")}


_MIGRATION = re.compile(r"(?P<rel>\d{4}\.\d)'?'s migrations of (?P<dbs>[a-z0-9_, ]+?) ran in"
                        r"|(?P<pdbs>[a-z0-9_, ]+?) already past (?P<prel>\d{4}\.\d)")


def migration_lines(text):
    """[(release, databases, 'ran' or 'past')] of db_migrate's messages, in order."""
    out = []
    for m in _MIGRATION.finditer(text):
        if m.group("rel"):
            out.append((m.group("rel"), m.group("dbs").strip(), "ran"))
        else:
            out.append((m.group("prel"), m.group("pdbs").strip(), "past"))
    return out


class LabState:
    """Reads a lab region's control plane directly (ip, unit files, systemctl)."""

    def __init__(self, lab):
        self.lab = lab

    def addresses(self, host):
        links = json.loads(self.lab.exec(host, "ip", "-j", "addr", "show", "dev", "eth0").stdout)
        return [i["local"] for link in links for i in link.get("addr_info", [])]

    def unit_release(self, host, unit):
        proc = self.lab.exec(host, "cat", "/etc/systemd/system/%s.service" % unit, check=False)
        match = re.search(r"^ExecStart=\S*/opt/stackhop/venvs/([^/\s]+)/", proc.stdout, re.M)
        return match.group(1) if match else None

    def unit_state(self, host, unit):
        proc = self.lab.exec(host, "systemctl", "show", unit, "-p", "ActiveState",
                             "-p", "UnitFileState", check=False)
        return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)

    def openstack(self, host, release, *argv, check=True):
        cmd = ["env", "OS_CLOUD=lab-admin", "/opt/stackhop/venvs/%s/bin/openstack" % release] + list(argv)
        return self.lab.exec(host, *cmd, check=check)

    def openstack_json(self, host, release, *argv):
        return json.loads(self.openstack(host, release, *argv, "-f", "json").stdout)
