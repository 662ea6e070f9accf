"""The compute upgrade on the lab region (issue 10: proofs 3, 5 and the compute half of 1, 4).

One lab region (module fixture, lab ``cmcu``): the control plane already runs the target
release 2025.1 (a control plane newer than its computes is the supported state in the
middle of an upgrade), cmp1 (az1) and cmp2 (az2) run 2024.1 with vm1 and vm2, and the lab
probe sends ICMP at 250/s plus a TCP stream from vm1 to vm2 the whole time. In order:

1. neutron's OVS agent gives every VM port a new conntrack zone on each restart (shown on
   the real agent), and stackhop.upgrade.conntrack_zone_keep stops that;
2. legacy data plane (proof 3): cmp1's ports and bridges are put in the state a kilo agent
   leaves (tests/lab/playbooks/legacy_dataplane.yml) and its agent restarted through
   neutron_compute's upgrade path, once with the quirk tasks off (loss measured) and once
   with them on (0 lost);
3. playbooks/upgrade_computes.yml 2024.1 -> 2025.1 for the whole region, interrupted in
   the second AZ (neutron-server unreachable from that compute: the HULK check stops the
   run before anything changed there) and run again (proof 5): 0 packets lost, 0 TCP
   resets over both runs, every agent and nova-compute on 2025.1, every zone kept;
4. a second run changes nothing but the step-marker bookkeeping (proof 4, computes).

The rehearsal ``compute-upgrade`` (scripts/rehearse.sh compute-upgrade, ~35 min). Set
``STACKHOP_CM_REGION_LAB=NAME`` to use a lab region that is already up with this
layout (inventory build/lab/NAME/hosts.yml) instead of deploying ``cmcu``; it is then
left up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab.conftest import region_chain_enabled
from lab.labctl import Lab
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib.region_lab import controllers_at_release

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.rehearsal("compute-upgrade")]

LAB = "cmcu"
TARGET = "2025.1"
CURRENT = "2024.1"
PROBE = "/usr/local/lib/stackhop/probe.py"
FIGURES = REPO / "build" / "lab" / "compute-upgrade-figures.json"


class Region:
    def __init__(self, lab):
        self.lab = Lab(lab)
        self.name = lab
        self.inventory = REPO / "build" / "lab" / lab / "hosts.yml"
        self.figures = {}
        self.probe_name = None
        self.probe_count = 0
        self.baseline = {"rate_per_s": 0.0}

    def sh(self, host, script, check=True):
        return self.lab.exec(host, ["/bin/sh", "-c", script], check=check)

    def out(self, host, script):
        return self.sh(host, script).stdout.strip()

    def playbook(self, path, *extra, env=None, timeout=3600):
        """Run a playbook with the JSON callback; return (rc, parsed output, stderr)."""
        argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(self.inventory), str(path)]
        for item in extra:
            argv += ["-e", item if isinstance(item, str) else json.dumps(item)]
        e = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
        e.update(env or {})
        proc = subprocess.run(argv, env=ansible_env(e), capture_output=True, text=True,
                              timeout=timeout, check=False)
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            out = {"raw": proc.stdout[-5000:]}
        return proc.returncode, out, proc.stderr

    # -- the probe ----------------------------------------------------------------
    def probe_restart(self):
        """A fresh probe: its TCP connection opens in whatever conntrack zone is in force.

        Each start uses new unit names: on these systemd-nspawn hosts a stopped transient
        unit stays loaded (systemd cannot remove its cgroup), and lab_probe's start treats
        "already loaded" as running, which would leave a stale report."""
        if self.probe_name:
            self.sh("cmp1", "systemctl stop %s" % self.probe_name, check=False)
            self.sh("cmp2", "systemctl stop %s-sink" % self.probe_name, check=False)
        self.probe_count += 1
        self.probe_name = "cm-probe-%d-%d" % (os.getpid(), self.probe_count)
        rc, out, err = self.playbook(REPO / "lab" / "playbooks" / "probe.yml", "lab_probe_action=start",
                                     "lab_probe_name=%s" % self.probe_name)
        assert rc == 0, (failed_tasks(out), err[-2000:])
        deadline = time.monotonic() + 60
        fig = None
        while time.monotonic() < deadline:
            fig = self.probe()
            if fig.get("running") and fig.get("age_seconds", 99) < 3 and \
                    fig["icmp"]["replied"] > 250 and fig["tcp"]["records_echoed"] > 100:
                return
            time.sleep(1)
        pytest.fail("the probe gets no replies: %s" % fig)

    def probe(self, action="report"):
        out = self.sh("cmp1", "python3 %s %s --state /run/%s.json" % (PROBE, action, self.probe_name),
                      check=False)
        return json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}

    def report(self):
        """The probe's figures; fails if the probe is not running (a stale state file)."""
        fig = self.probe()
        assert fig.get("running") and fig.get("age_seconds", 99) < 5, "probe not running: %s" % fig
        return fig

    # -- state of a compute --------------------------------------------------------
    def vm_port(self, host):
        ifaces = json.loads(self.out(host, "ovs-vsctl --format=json --columns=name,external_ids "
                                           "list Interface"))["data"]
        ports = json.loads(self.out(host, "ovs-vsctl --format=json --columns=name,tag,other_config "
                                          "list Port"))["data"]
        iface = [r for r in ifaces if r[0].startswith("qvo")][0]
        port = [p for p in ports if p[0] == iface[0]][0]
        tag = port[1] if not isinstance(port[1], list) else None   # ["set", []] when untagged
        return {"name": port[0], "tag": tag, "other_config": dict(port[2][1]),
                "id": dict(iface[1][1])["iface-id"]}

    def zone(self, host, port_id):
        """Conntrack zone of the agent's rule for the port's tap (0 when there is none)."""
        raw = self.out(host, "iptables-save -t raw")
        m = re.search(r"--physdev-in tap%s .*-j CT --zone (\d+)" % re.escape(port_id[:11]), raw)
        if m and "stackhop-zone-pin" not in m.group(0):
            return int(m.group(1))
        return 0

    def agent_venv(self, host):
        unit = self.out(host, "cat /etc/systemd/system/neutron-openvswitch-agent.service")
        return re.search(r"/opt/stackhop/venvs/([^/]+)/bin/neutron-openvswitch-agent", unit).group(1)

    def nova_venv(self, host):
        unit = self.out(host, "cat /etc/systemd/system/nova-compute.service")
        return re.search(r"/opt/stackhop/venvs/([^/]+)/bin/nova-compute", unit).group(1)


def failed_tasks(out):
    found = []
    for play in out.get("plays", []):
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed") or res.get("unreachable"):
                    found.append("%s %s: %s" % (host, task["task"]["name"], str(res.get("msg"))[:600]))
    return found


def changed_tasks(out):
    return [(host, task["task"]["name"]) for play in out.get("plays", [])
            for task in play["tasks"] for host, res in task["hosts"].items() if res.get("changed")]


def figures_line(fig):
    return ("ICMP sent %d lost %d longest gap %.0f ms; TCP echoed %d longest gap %.0f ms, "
            "resets %d, reconnects %d" % (
                fig["icmp"]["sent"], fig["icmp"]["lost"], fig["icmp"]["longest_gap_ms"],
                fig["tcp"]["records_echoed"], fig["tcp"]["longest_gap_ms"],
                fig["tcp"]["resets"], fig["tcp"]["reconnects"]))


def idle_baseline(region, seconds=60):
    """Loss of the idle lab: on a loaded 2-core machine the userspace datapaths drop some
    packets with nothing changing; the measured actions are judged against this."""
    region.probe("reset")
    time.sleep(seconds)
    fig = region.report()
    rate = fig["icmp"]["lost"] / max(fig["seconds"], 1)
    region.baseline = {"seconds": fig["seconds"], "lost": fig["icmp"]["lost"],
                       "rate_per_s": round(rate, 3), "longest_gap_ms": fig["icmp"]["longest_gap_ms"],
                       "load": os.getloadavg()[0]}
    save_figures(region, "idle_baseline", region.baseline)
    return region.baseline


def assert_no_outage(region, fig):
    """0 lost beyond what the idle lab loses in as long (3x its rate), no gap of a second
    or more, no TCP reset: nothing the change did cost a packet. On a quiet machine the
    idle rate is 0 and this is 0 lost."""
    allowed = int(3 * region.baseline["rate_per_s"] * fig["seconds"] + 0.999)
    assert fig["icmp"]["lost"] <= allowed, (fig, region.baseline)
    assert fig["icmp"]["longest_gap_ms"] < 1000, (fig, region.baseline)
    assert fig["tcp"]["resets"] == 0 and fig["tcp"]["reconnects"] == 0, fig
    assert fig["tcp"]["longest_gap_ms"] < 1000, fig


def save_figures(region, key, value):
    region.figures[key] = value
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(region.figures, indent=1) + "\n")


@pytest.fixture(scope="module")
def region(request):
    reuse = os.environ.get("STACKHOP_CM_REGION_LAB")
    if not reuse and region_chain_enabled():
        # The region chain (tests/lab/conftest.py): the session's region, whose control
        # plane test_control_plane.py has just upgraded (blue-green) to the target.
        reuse = request.getfixturevalue("lab_region").parent.name
    if reuse:
        r = Region(reuse)
        r.probe_restart()
        yield r
        return
    r = Region(LAB)
    r.lab.destroy()
    env = ansible_env({"STACKHOP_VENV": str(VENV)})
    t0 = time.monotonic()
    subprocess.run([str(REPO / "scripts" / "lab-up.sh"), "--lab", LAB, "--hosts-only"],
                   env=env, check=True, capture_output=True, text=True)
    controllers_at_release(r.inventory, TARGET)
    try:
        for pb in ("deploy.yml", "vms.yml"):
            rc, out, err = r.playbook(REPO / "lab" / "playbooks" / pb)
            assert rc == 0, (pb, failed_tasks(out), err[-3000:])
        save_figures(r, "deploy_seconds", round(time.monotonic() - t0, 1))
        r.probe_restart()
        yield r
    finally:
        r.lab.destroy()


def test_region_is_mixed_and_vms_talk(region):
    for host in ("cmp1", "cmp2"):
        assert region.agent_venv(host) == CURRENT
        assert region.nova_venv(host) == CURRENT
    base = idle_baseline(region)
    print("\nidle lab, %.0f s: %d lost (%.3f/s), longest gap %.0f ms, load %.1f"
          % (base["seconds"], base["lost"], base["rate_per_s"], base["longest_gap_ms"], base["load"]))
    assert base["longest_gap_ms"] < 1000, base


def test_agent_restart_moves_every_zone_unless_kept(region):
    """neutron's own behaviour, on the real agent: a plain restart gives the port a new
    conntrack zone; after conntrack_zone_keep the next restart keeps it."""
    port = region.vm_port("cmp2")["id"]
    before = region.zone("cmp2", port)
    region.sh("cmp2", "systemctl restart neutron-openvswitch-agent")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and region.zone("cmp2", port) in (before, 0):
        time.sleep(2)
    moved = region.zone("cmp2", port)
    rc, out, err = region.playbook(REPO / "tests" / "lab" / "playbooks" / "zone_keep.yml",
                                   "target_host=cmp2")
    assert rc == 0, (failed_tasks(out), err[-2000:])
    region.sh("cmp2", "systemctl restart neutron-openvswitch-agent")
    time.sleep(45)
    kept = region.zone("cmp2", port)
    print("\nconntrack zone of vm2's port: %d, after a plain agent restart %d, after "
          "conntrack_zone_keep and another restart %d" % (before, moved, kept))
    save_figures(region, "zones_cmp2", {"before": before, "plain_restart": moved, "kept": kept})
    assert moved != before
    assert kept == moved


def legacy_and_restart(region, quirks):
    """Make cmp1 legacy, restart the probe in that state, run neutron_compute's upgrade
    path (a controlled restart of the same release) with or without the quirk tasks."""
    rc, out, err = region.playbook(REPO / "tests" / "lab" / "playbooks" / "legacy_dataplane.yml",
                                   "legacy_host=cmp1")
    assert rc == 0, (failed_tasks(out), err[-2000:])
    legacy = region.vm_port("cmp1")
    assert legacy["tag"] == 5 and legacy["other_config"] == {}
    assert region.out("cmp1", "ovs-vsctl get-fail-mode br-int") == ""
    assert region.out("cmp1", "ovs-vsctl get-controller br-int") == ""
    assert region.zone("cmp1", legacy["id"]) == 0
    region.probe_restart()
    region.probe("reset")
    time.sleep(2)
    t0 = time.monotonic()
    rc, out, err = region.playbook(REPO / "tests" / "lab" / "playbooks" / "agent_restart.yml",
                                   "target_host=cmp1",
                                   {"neutron_compute_quirks": quirks,
                                    "neutron_compute_keep_conntrack_zones": bool(quirks)})
    took = time.monotonic() - t0
    assert rc == 0, (failed_tasks(out), err[-2000:])
    for play in out.get("plays", []):
        for task in play["tasks"]:
            res = task["hosts"].get("cmp1", {})
            if "neutron_compute_fail_mode" in res and res["neutron_compute_fail_mode"].get("bridges"):
                print("\nfail_mode_secure: %s" % json.dumps(
                    {b: {k: v.get(k) for k in ("flows_saved", "flows_restored", "relay")}
                     for b, v in res["neutron_compute_fail_mode"]["bridges"].items()}))
    time.sleep(10)
    return region.report(), region.vm_port("cmp1"), took


QUIRKS = ["ovs_other_config", "conntrack_zone_pin", "fail_mode_secure"]


def test_legacy_data_plane_without_the_quirk_tasks_loses_traffic(region):
    fig, port, took = legacy_and_restart(region, [])
    print("\nlegacy data plane, agent restarted WITHOUT the quirk tasks (%.0f s): %s; local "
          "VLAN 5 -> %s" % (took, figures_line(fig), port["tag"]))
    save_figures(region, "legacy_without_quirks", fig)
    assert port["tag"] != 5                         # re-tagged by the agent
    # An outage: the bridges' flows flushed twice (fail mode, first controller), the port re-tagged.
    assert fig["icmp"]["longest_gap_ms"] >= 1000, fig
    assert fig["icmp"]["lost"] > 3 * region.baseline["rate_per_s"] * fig["seconds"] + 50, fig


def test_legacy_data_plane_with_the_quirk_tasks_loses_nothing(region):
    fig, port, took = legacy_and_restart(region, QUIRKS)
    print("\nlegacy data plane, agent restarted WITH the quirk tasks (%.0f s): %s; local VLAN "
          "5 -> %s, zone %s" % (took, figures_line(fig), port["tag"], region.zone("cmp1", port["id"])))
    save_figures(region, "legacy_with_quirks", fig)
    assert port["tag"] == 5                         # kept from other_config
    assert region.zone("cmp1", port["id"]) == 0     # kilo's zone kept
    assert region.out("cmp1", "ovs-vsctl get-fail-mode br-int") == "secure"
    assert_no_outage(region, fig)


def batch_seconds(out):
    """Wall time of each serial batch of the upgrade play: {host: seconds}."""
    times = {}
    for play in out.get("plays", []):
        if play["play"]["name"] != "Upgrade the computes, batch by batch" or not play["tasks"]:
            continue
        hosts = sorted({h for t in play["tasks"] for h in t["hosts"]})
        start = play["tasks"][0]["task"]["duration"]["start"]
        end = play["tasks"][-1]["task"]["duration"]["end"]
        secs = (time_of(end) - time_of(start))
        for h in hosts:
            times[h] = round(secs, 1)
    return times


def time_of(stamp):
    from datetime import datetime
    return datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


UPGRADE_ENV = {"STACKHOP_UPGRADE_ID": "cm-test-computes",
               "ANSIBLE_CALLBACKS_ENABLED": "stackhop.upgrade.upgrade_report",
               "STACKHOP_REPORT_DIR": str(REPO / "build" / "reports" / "cm-test-computes")}
BLOCK = "OUTPUT -p tcp -d %s --dport 9696 -m comment --comment cm-test-block -j REJECT"


def test_upgrade_computes_interrupted_and_resumed_loses_nothing(region):
    """Proofs 1 (computes) and 5: the whole region's computes 2024.1 -> 2025.1, interrupted
    in az2 by an unreachable neutron-server (HULK's check stops it before cmp2's agent is
    touched), fixed, run again: it resumes where it stopped."""
    ports = {h: region.vm_port(h)["id"] for h in ("cmp1", "cmp2")}
    zones = {h: region.zone(h, ports[h]) for h in ports}
    # neutron-server's service address (lab/inventory/group_vars/all/lab_region.yml)
    region_vars = REPO / "lab" / "inventory" / "group_vars" / "all" / "lab_region.yml"
    address = re.search(r"\n\s+neutron: (\S+)", region_vars.read_text()).group(1)
    region.probe("reset")
    time.sleep(2)
    region.sh("cmp2", "iptables -I " + BLOCK % address)
    try:
        t0 = time.monotonic()
        rc1, out1, _err = region.playbook(REPO / "playbooks" / "upgrade_computes.yml",
                                          "stackhop_approval=auto", env=UPGRADE_ENV)
        first = time.monotonic() - t0
    finally:
        region.sh("cmp2", "iptables -D " + BLOCK % address)
    failures = failed_tasks(out1)
    assert rc1 != 0 and failures, "the run should have stopped at cmp2"
    assert all(f.startswith("cmp2 ") for f in failures), failures
    assert any("neutron-server" in f and "HULK" in f for f in failures), failures
    assert region.agent_venv("cmp1") == TARGET and region.nova_venv("cmp1") == TARGET
    assert region.agent_venv("cmp2") == CURRENT          # untouched
    assert region.out("cmp2", "systemctl is-active neutron-openvswitch-agent") == "active"
    marks = json.loads(region.out("cmp2", "cat /etc/ansible/facts.d/stackhop.fact"))
    print("\nmarkers on cmp2 after the interrupted run: %s" % json.dumps(marks)[:400])

    t1 = time.monotonic()
    rc2, out2, err2 = region.playbook(REPO / "playbooks" / "upgrade_computes.yml",
                                      "stackhop_approval=auto", env=UPGRADE_ENV)
    second = time.monotonic() - t1
    assert rc2 == 0, (failed_tasks(out2), err2[-2000:])
    resumed = json.dumps(out2)
    assert "RESUMING" in resumed
    cmp1_changes = [t for h, t in changed_tasks(out2) if h == "cmp1"]
    # only bookkeeping on cmp1: its step markers (recorded, then forgotten at the end)
    assert not [t for t in cmp1_changes if "step_marker" not in t and "step marker" not in t.lower()], \
        cmp1_changes
    time.sleep(5)
    fig = region.report()
    per_host = batch_seconds(out1)
    per_host.update({h: s for h, s in batch_seconds(out2).items() if h == "cmp2"})
    print("\nupgrade_computes 2024.1 -> 2025.1: interrupted run %.0f s, resumed run %.0f s; "
          "per compute %s; %s" % (first, second, per_host, figures_line(fig)))
    for h in ("cmp1", "cmp2"):
        assert region.agent_venv(h) == TARGET and region.nova_venv(h) == TARGET
        assert region.zone(h, ports[h]) == zones[h], "conntrack zone of %s changed" % h
    probes = Path(UPGRADE_ENV["STACKHOP_REPORT_DIR"]) / "probes"
    probes.mkdir(parents=True, exist_ok=True)
    (probes / "lab-probe.json.tmp").write_text(json.dumps({
        "kind": "dataplane", "name": "lab probe vm1 -> vm2", "path": "vm1 -> vm2 (ICMP 250/s)",
        "sent": fig["icmp"]["sent"], "lost": fig["icmp"]["lost"],
        "longest_gap_s": fig["icmp"]["longest_gap_ms"] / 1000.0, "loss": []}))
    (probes / "lab-probe.json.tmp").rename(probes / "lab-probe.json")
    save_figures(region, "upgrade_computes", {
        "interrupted_run_s": round(first, 1), "resumed_run_s": round(second, 1),
        "per_compute_s": per_host, "probe": fig, "zones": zones})
    assert_no_outage(region, fig)


def test_second_run_changes_nothing(region):
    """Also the control for the loss figures: the same playbook, the same hosts, nothing
    to change on the data plane."""
    region.probe("reset")
    time.sleep(2)
    t0 = time.monotonic()
    rc, out, err = region.playbook(REPO / "playbooks" / "upgrade_computes.yml",
                                   "stackhop_approval=auto", env=UPGRADE_ENV)
    took = time.monotonic() - t0
    assert rc == 0, (failed_tasks(out), err[-2000:])
    fig = region.report()
    changes = changed_tasks(out)
    print("\nsecond run (%.0f s): %s; changed tasks: %s" % (took, figures_line(fig), changes))
    save_figures(region, "second_run", {"seconds": round(took, 1), "probe": fig, "changed": changes})
    bookkeeping = re.compile(r"(Record as done the step|Forget the completed steps|Write the summary)")
    assert not [c for c in changes if not bookkeeping.search(c[1])], changes
