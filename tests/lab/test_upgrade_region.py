"""The README's main command (scripts/main.sh) on the session's lab region: 2024.1 -> 2025.1.

The region chain's last module (tests/lab/conftest.py): the region deployed by the
``lab_region`` fixture (the same script with STACKHOP_MAIN_UPGRADE=0), after pre-flight's
tests restored every break they made, is upgraded as a user runs it: ``./scripts/main.sh``
(benchmarks off), which starts the VMs' probe and runs playbooks/upgrade_region.yml with
its ``-e key=value`` strings: pre-flight, backup, blue-green control
plane (ctl-old -> ctl-new, the API of every service polled at 4 Hz), computes az1 then az2
(canary, approval ``auto``, batches), verify. The lab's data-plane probe runs between vm1
(az1) and vm2 (az2) throughout. Proven (issue 10, proofs 1 and 4):

* the run passes; 0 ICMP lost and 0 TCP resets between the VMs;
* every unit of the region runs 2025.1; the report (report.json, report.html) holds every
  phase, each service's API downtime and the data-plane figures;
* main.sh prints the figures and the report's path; no secret of the lab appears on any
  command line of the machine while it runs (tests/lib/argv_sampler.py);
* a second run of the same command on the upgraded region changes nothing (in the
  rehearsal region-in-place only);
* a new server boots on an upgraded compute and the VMs reach it.

Figures go to build/lab/upgrade-region-figures.json and are printed.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
from configparser import RawConfigParser

import pytest
import yaml

from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from tests.lab.conftest import REGION_UPGRADE_ID
from tests.lib.cp_lab import COMPONENTS, LabState, Run, api_downtime, log, report, run_playbook
from tests.lib.region_lab import RegionLab
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib import cinder_lab
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib import chromium

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

CURRENT, TARGET = "2024.1", "2025.1"
UPGRADE_ID = REGION_UPGRADE_ID
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
FIGURES_FILE = REPO / "build" / "lab" / "upgrade-region-figures.json"
FIGURES = {}
COMPUTES = ("cmp1", "cmp2")
CONTROL_UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor",
                 "nova-scheduler", "neutron-server", "cinder-api", "cinder-scheduler", "cinder-volume"]


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def _ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _spans(record, key, hosts=None, skip_components=()):
    """Wall seconds from the first start to the last end of the run's phases, per ``key``
    (only the phases of ``hosts`` when given, none of ``skip_components``)."""
    spans = {}
    for phase in (record or {}).get("phases", []):
        k = phase.get(key)
        if not k or (hosts and phase.get("host") not in hosts) \
                or phase.get("component") in skip_components:
            continue
        lo, hi = spans.get(k, (None, None))
        start, end = _ts(phase["start"]), _ts(phase["end"])
        spans[k] = (start if lo is None else min(lo, start), end if hi is None else max(hi, end))
    return {k: round(hi - lo, 1) for k, (lo, hi) in spans.items()}


def _probe(region, action, **extra):
    vars_ = {"lab_probe_action": action}
    vars_.update(extra)
    run = run_playbook(region, REPO / "lab" / "playbooks" / "probe.yml", "region-probe-%s" % action, vars_)
    assert run.rc == 0, run.text[-3000:]
    if action == "report":
        return json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    return None


@pytest.fixture(scope="module")
def region(lab_region):
    """The region chain's region (every test that records a figure saves it at once)."""
    return RegionLab(lab_region.parent.name, owned=False)


@pytest.fixture(scope="module")
def state(region):
    return LabState(region)


def run_figures(run, probe, rep, report_dir):
    """One upgrade run's figures: time per phase/component/compute, API downtime, the VMs'."""
    return {
        "rc": run.rc, "total_s": round(run.seconds),
        "phases_s": _spans(run.record, "phase"),
        "components_s": _spans(run.record, "component"),
        # a compute's own upgrade: code, Open vSwitch, agent, nova-compute (not the staging
        # before the window, nor the region-wide verify after it)
        "per_compute_s": _spans(run.record, "host", hosts=COMPUTES, skip_components=(
            "release_code", "verify", "logs", "region", "summary", "inventories", "api")),
        "api_down_s": api_downtime(report_dir),
        "vm_icmp": probe.get("icmp"), "vm_tcp": probe.get("tcp"),
        "report_status": rep.get("status"), "log": str(run.log)}


def upgrade_with_probe(region, upgrade, name, report_dir):
    """One upgrade run (``upgrade(region, name)``) with the VMs' probe running from before
    it to after it; (run, probe figures, report, the run's figures)."""
    _probe(region, "start", lab_probe_reset=True)
    time.sleep(5)
    run = upgrade(region, name)
    probe = _probe(region, "report")
    rep = report(report_dir)
    figures = run_figures(run, probe, rep, report_dir)
    return run, probe, rep, figures


def second_run(region, upgrade, name):
    """The same command again on the upgraded region: (run, its figures)."""
    run = upgrade(region, name)
    return run, {"rc": run.rc, "total_s": round(run.seconds),
                 "changed": run.changed() if run.record else None}


def losses_placed(rep):
    """Each lost packet or TCP reset in the report, with the hosts and phases moving then:
    the failure names what to look at instead of the probe's raw figures."""
    out = []
    for series in rep.get("dataplane") or []:
        for event in series.get("events") or []:
            if event.get("kind") != "gap":
                moving = ", ".join("%s %s/%s" % (m["host"], m["component"], m["phase"])
                                   for m in event.get("moving") or []) or "nothing"
                out.append("%s %s at %s while %s" % (series.get("name"), event.get("kind"),
                                                     event.get("start"), moving))
    return out


def assert_no_packet_lost(run, probe, rep=None):
    assert run.rc == 0, run.text[-6000:]
    assert probe["icmp"]["sent"] > 1000, probe
    assert probe["icmp"]["lost"] == 0, (probe["icmp"]["lost"], losses_placed(rep or {}))
    assert probe["tcp"]["resets"] == 0 and probe["tcp"]["reconnects"] == 0, probe


def assert_computes_run(state, release):
    for cmp in COMPUTES:
        for unit in ("nova-compute", "neutron-openvswitch-agent"):
            assert state.unit_release(cmp, unit) == release, (cmp, unit)
            assert state.unit_state(cmp, unit).get("ActiveState") == "active", (cmp, unit)
    for unit in ("neutron-dhcp-agent", "neutron-openvswitch-agent"):
        assert state.unit_release("ctl-old", unit) == release, unit


MAIN = REPO / "scripts" / "main.sh"


def run_main_job(region, name):
    """The README's main command, as a user runs it (``./scripts/main.sh``), on this lab:
    STACKHOP_LAB names the chain's region (deployed by the same script with
    STACKHOP_MAIN_UPGRADE=0), benchmarks off. Returns a Run: its record is the report
    callback's record of upgrade_region.yml in this run."""
    env = ansible_env({"STACKHOP_LAB": region.name, "STACKHOP_UPGRADE_ID": UPGRADE_ID,
                       "STACKHOP_MAIN_BENCH": "0", "STACKHOP_VENV": str(VENV),
                       # tempest before and after (~16 min) is the tempest rehearsal's
                       "STACKHOP_MAIN_TEMPEST": os.environ.get("STACKHOP_MAIN_TEMPEST", "0")})
    logfile = REPO / "build" / "cp-test" / ("%s.log" % name)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    t0 = time.monotonic()
    with open(logfile, "w") as out:
        proc = subprocess.run([str(MAIN)], cwd=str(REPO), env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=5000, check=False)
    seconds = time.monotonic() - t0
    record = None
    for path in sorted((REPORT_DIR / "runs").glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("start", "") >= started and any(
                "upgrade_region.yml" in str(p) for p in data.get("playbooks", [])):
            record = data
    log("%s: scripts/main.sh rc=%d in %.0f s (log %s)" % (name, proc.returncode, seconds, logfile))
    return Run(proc.returncode, seconds, logfile, REPORT_DIR, record)


def main_job_probe(region):
    """The VMs' probe figures main.sh wrote after the upgrade."""
    return json.loads((REPO / "build" / "results" / ("probe-%s.json" % region.name)).read_text())


@pytest.fixture(scope="module")
def upgraded(region):
    """The main job's upgrade (scripts/main.sh: probe started, upgrade_region.yml, the
    probe's figures), under the argv sampler: no secret of the lab on any command line.
    Under scripts/test.sh the tests beside the lab run on at a lower priority."""
    with ArgvSampler(load_lab_secrets(), lab=region.name) as sampler:
        run = run_main_job(region, "main-job-upgrade")
    probe = main_job_probe(region) if run.rc == 0 else {}
    rep = report(REPORT_DIR)
    FIGURES["upgrade"] = dict(run_figures(run, probe, rep, REPORT_DIR), argv_samples=sampler.samples,
                              argv_execs_read=sampler.execs_read, argv_mode=sampler.mode,
                              argv_secret_hits=len(sampler.hits))
    FIGURES["argv_secret_hits"] = [list(map(str, hit)) for hit in sampler.hits][:20]
    _save()
    log("scripts/main.sh %s -> %s: %s" % (CURRENT, TARGET, json.dumps(FIGURES["upgrade"], indent=1)))
    return run, probe, rep


def test_main_job_prints_the_figures_and_the_report(upgraded):
    run, _probe_fig, _rep = upgraded
    text = run.text
    assert run.rc == 0, text[-6000:]
    assert "== figures of the upgrade" in text and "API down  keystone" in text, text[-3000:]
    assert "report: %s/report.html" % REPORT_DIR in text


def test_no_secret_on_any_command_line_during_the_upgrade(upgraded):
    assert FIGURES["upgrade"]["argv_samples"] > 100
    assert FIGURES["upgrade"]["argv_mode"] != "exec events" or FIGURES["upgrade"]["argv_execs_read"] > 1000
    assert not FIGURES["argv_secret_hits"], FIGURES["argv_secret_hits"]
    # nor in what the main job printed (the playbooks' output and the figures)
    run, _probe, _rep = upgraded
    printed = sorted(name for name, secret in load_lab_secrets().items() if secret and secret in run.text)
    assert not printed, "scripts/main.sh printed the secrets %s" % printed


def test_upgrade_region_passes_without_losing_a_packet(upgraded):
    run, probe, rep = upgraded
    assert_no_packet_lost(run, probe, rep)


def task_statuses(log_text, task):
    """The status lines (``ok:``, ``changed:``, ``skipping:``...) under each header of
    ``task`` in an ansible-playbook log (the default callback's output)."""
    out = []
    for block in log_text.split("\nTASK [")[1:]:
        header, _sep, body = block.partition("]")
        if header.split(" : ")[-1].strip() == task:
            out += [line.split(":")[0] for line in body.splitlines()
                    if line.split(":")[0] in ("ok", "changed", "skipping", "failed", "fatal")]
    return out


def test_dhcp_renewals_kept_their_address_through_the_dhcp_agents_drain(upgraded, region):
    """Issue 19 part 2, DeNA's DHCP drain: the network node's DHCP agent (ctl-old, upgraded
    in place after the server moved) was set admin-state-down, stopped once its dnsmasq
    processes were gone, set up again and started on the target, and the role waited until
    dnsmasq served every network again. Meanwhile vm1 renewed its 120 s lease every 5 s
    (lab_probe's dhcp_probe.py, unicast to the DHCP port, retransmitting): no renewal went
    unanswered for half the lease and every ACK gave vm1 its address."""
    run, probe, _rep = upgraded
    assert run.rc == 0, run.text[-3000:]
    log_text = (REPO / "build" / "results" / ("upgrade_region-%s.log" % region.name)).read_text()
    for task in ("Set the DHCP agent admin-state-down", "Wait until its dnsmasq processes are gone",
                 "Stop the old DHCP agent", "Set the DHCP agent admin-state-up, so the new agent binds the networks",
                 "Wait until the new DHCP agent reports alive", "Wait until dnsmasq serves each of its networks again"):
        statuses = task_statuses(log_text, task)
        assert statuses and "skipping" not in statuses and "failed" not in statuses, (task, statuses)
    dhcp = probe["dhcp"]
    FIGURES["vm_dhcp"] = {k: dhcp.get(k) for k in ("attempts", "acked", "failed", "naks", "longest_s",
                                                   "addresses", "servers", "lease_s", "give_up_s")}
    FIGURES["vm_dhcp"]["slow"] = [e for e in dhcp.get("events", []) if e["kind"] == "gap"][:10]
    _save()
    assert dhcp["lease_s"] == 120 and dhcp["attempts"] > 60, dhcp
    assert dhcp["failed"] == 0 and dhcp["naks"] == 0, [e for e in dhcp["events"] if e["kind"] == "loss"]
    # the probe asks for vm1's own address (its eth0's): every ACK gave that one
    assert len(dhcp["addresses"]) == 1, dhcp["addresses"]


def test_every_unit_runs_the_target(upgraded, state):
    for unit in CONTROL_UNITS:
        assert state.unit_release("ctl-new", unit) == TARGET, unit
        st = state.unit_state("ctl-old", unit)
        assert st.get("ActiveState") != "active", "%s still runs on ctl-old" % unit
    assert_computes_run(state, TARGET)


# Every OpenStack service runs as its component's user (components.py's ``user``), with
# its config files root:<user> 0640 and the directories it writes its own; neutron's agents
# and nova-compute reach root only through Debian's root helper (sudo <pkg>-rootwrap, the
# release's filters, one sudoers rule).
_NEUTRON = ["/etc/neutron/neutron.conf"]
OWN_USERS = {
    ("ctl-new", "keystone"): ("keystone", ["/etc/keystone/keystone.conf", "/etc/keystone/keystone-uwsgi.ini"]),
    ("ctl-new", "glance-api"): ("glance", ["/etc/glance/glance-api.conf"]),
    ("ctl-new", "placement-api"): ("placement", ["/etc/placement/placement.conf"]),
    ("ctl-new", "nova-api"): ("nova", ["/etc/nova/nova.conf", "/etc/nova/nova-api-uwsgi.ini"]),
    ("ctl-new", "nova-conductor"): ("nova", ["/etc/nova/nova.conf"]),
    ("ctl-new", "nova-scheduler"): ("nova", ["/etc/nova/nova.conf"]),
    ("ctl-new", "neutron-server"): ("neutron", _NEUTRON + ["/etc/neutron/plugins/ml2/ml2_conf.ini"]),
    ("ctl-new", "cinder-api"): ("cinder", ["/etc/cinder/cinder.conf", "/etc/cinder/cinder-uwsgi.ini"]),
    ("ctl-new", "cinder-scheduler"): ("cinder", ["/etc/cinder/cinder.conf"]),
    ("ctl-new", "cinder-volume"): ("cinder", ["/etc/cinder/cinder.conf"]),
    ("ctl-old", "neutron-dhcp-agent"): ("neutron", _NEUTRON + ["/etc/neutron/dhcp_agent.ini"]),
    ("ctl-old", "neutron-openvswitch-agent"): ("neutron", _NEUTRON + ["/etc/neutron/plugins/ml2/openvswitch_agent.ini"]),
}
for _cmp in COMPUTES:
    OWN_USERS[(_cmp, "nova-compute")] = ("nova", ["/etc/nova/nova.conf"])
    OWN_USERS[(_cmp, "neutron-openvswitch-agent")] = ("neutron", _NEUTRON + ["/etc/neutron/plugins/ml2/openvswitch_agent.ini"])


def test_every_service_runs_as_its_own_user(upgraded, region):
    wrong = []
    for (host, unit), (user, files) in OWN_USERS.items():
        shown = region.exec(host, "systemctl", "show", "-p", "User", "-p", "Group", "-p", "MainPID",
                            unit + ".service").stdout
        props = dict(line.split("=", 1) for line in shown.split() if "=" in line)
        running = region.exec(host, "ps", "-o", "user=", "-p", props.get("MainPID", "0")).stdout.strip()
        if (props.get("User"), props.get("Group"), running) != (user, user, user):
            wrong.append("%s on %s runs as %s (unit User=%s Group=%s), not %s" % (
                unit, host, running, props.get("User"), props.get("Group"), user))
        for path in files:
            mode = region.exec(host, "stat", "-c", "%U:%G %a", path).stdout.strip()
            if mode != "root:%s 640" % user:
                wrong.append("%s on %s is %s, not root:%s 640" % (path, host, mode, user))
    assert not wrong, wrong


def test_the_agents_reach_root_only_through_their_root_helper(upgraded, region):
    """The OVS agents' privsep daemons, started through sudo neutron-rootwrap, run as root;
    the sudoers rules allow the rootwrap and nothing else; the filters are root's."""
    for host in ["ctl-old"] + list(COMPUTES):
        rule = region.exec(host, "cat", "/etc/sudoers.d/stackhop-neutron").stdout
        assert "neutron ALL = (root) NOPASSWD: /usr/local/bin/neutron-rootwrap /etc/neutron/rootwrap.conf *" in rule
        assert region.exec(host, "stat", "-c", "%U:%G %a", "/etc/sudoers.d/stackhop-neutron").stdout.strip() == "root:root 440"
        assert region.exec(host, "stat", "-c", "%U:%G %a", "/etc/neutron/rootwrap.d/rootwrap.filters").stdout.strip() \
            == "root:root 644"
        # -ww: the whole command line (ps cuts it to 80 columns without a terminal)
        helpers = region.exec(host, "ps", "-eww", "-o", "user=,args=").stdout.splitlines()
        privsep = [line for line in helpers if "privsep-helper" in line and "neutron.privileged" in line
                   and "sudo" not in line.split()[1] and "rootwrap" not in line]
        assert privsep and all(line.split()[0] == "root" for line in privsep), (host, privsep or helpers)
    for cmp in COMPUTES:
        rule = region.exec(cmp, "cat", "/etc/sudoers.d/stackhop-nova").stdout
        assert "nova ALL = (root) NOPASSWD: /usr/local/bin/nova-rootwrap /etc/nova/rootwrap.conf *" in rule


def test_the_report_holds_phases_downtime_and_the_data_plane(upgraded):
    _run, _probe_fig, rep = upgraded
    assert (REPORT_DIR / "report.html").stat().st_size > 0
    phases = {p["phase"] for p in rep["phases"]}
    assert {"preflight", "backup", "verify"} <= phases, phases
    down = api_downtime(REPORT_DIR)
    assert set(down) >= set(COMPONENTS), down
    assert rep.get("dataplane"), "the report has no data-plane figures"
    assert rep["status"] == "ok", rep.get("failed_phases")


def recorded_steps(record, controllers=("ctl-old", "ctl-new"), computes=COMPUTES):
    """What a run did, from its record: {component: its control-plane phases in the order
    first run} in the order the components started, and the computes in the order their
    upgrade started."""
    control, hosts = {}, []
    for phase in (record or {}).get("phases", []):
        comp, name, host = phase.get("component"), phase.get("phase"), phase.get("host")
        if host in controllers and comp in rm.COMPONENTS and name in rm.CONTROL_PLANE_PHASES:
            seen = control.setdefault(comp, [])
            if name not in seen:
                seen.append(name)
        elif host in computes and name == "upgrade" and host not in hosts:
            hosts.append(host)
    return control, hosts


def planned_steps(region, strategy="blue_green", first="ctl-old"):
    """{component: the phases of its plan steps} of the region's stackhop_components (as
    ``first`` sees them) with ``strategy``, in the plan's order, for the region's network
    nodes and controllers (release_model.network_nodes_apart)."""
    apart = rm.network_nodes_apart(strategy, region.group_hosts("stackhop_network"),
                                   region.group_hosts("stackhop_controllers"),
                                   region.group_hosts("stackhop_controllers_new"))
    components = region.hostvars[first]["stackhop_components"]
    return {c: rm.control_plane_phases(c, CURRENT, TARGET, strategy, apart_network_nodes=apart)
            for c in rm.DEFAULT_COMPONENT_ORDER if c in components}


def test_the_report_follows_the_plan(upgraded, region):
    """Issue 16: the steps the run recorded are the plan's, in the plan's order: the
    components in the plan's order (those of the region's stackhop_components: ironic in
    the variant ironic), each with the phases of its plan steps
    (release_model.component_steps, which the plan prints and from which the executor
    takes the phases it runs), then the computes in the order of the plan's batches."""
    run, _probe_fig, _rep = upgraded
    control, hosts = recorded_steps(run.record)
    plan = planned_steps(region)
    assert list(control) == list(plan)
    assert control == plan
    batches = rm.compute_batches([{"name": "cmp1", "az": "az1"}, {"name": "cmp2", "az": "az2"}])
    assert hosts == [h for az in batches for batch in az["batches"] for h in batch["hosts"]]


# Where each of the lab's operator overrides (lab/inventory/group_vars/all/
# operator_overrides.yml) must be after the upgrade: the hosts serving and the file.
OVERRIDDEN_FILES = {
    "keystone_keystone_conf_overrides": (["ctl-new"], "/etc/keystone/keystone.conf"),
    "glance_glance_api_conf_overrides": (["ctl-new"], "/etc/glance/glance-api.conf"),
    "placement_placement_conf_overrides": (["ctl-new"], "/etc/placement/placement.conf"),
    "nova_controller_nova_conf_overrides": (["ctl-new"], "/etc/nova/nova.conf"),
    "nova_compute_nova_conf_overrides": (COMPUTES, "/etc/nova/nova.conf"),
    "neutron_controller_neutron_conf_overrides": (["ctl-new"], "/etc/neutron/neutron.conf"),
    "neutron_controller_dhcp_agent_ini_overrides": (["ctl-old"], "/etc/neutron/dhcp_agent.ini"),
    "neutron_compute_openvswitch_agent_ini_overrides": (COMPUTES, "/etc/neutron/plugins/ml2/openvswitch_agent.ini"),
    "cinder_cinder_conf_overrides": (["ctl-new"], "/etc/cinder/cinder.conf"),
}


def test_the_operators_overrides_survive_the_upgrade(upgraded, region):
    """Every setting of the lab's overrides is in the file the upgraded service reads
    (the files hold passwords: only the compared values are ever printed)."""
    overrides = yaml.safe_load((REPO / "lab" / "inventory" / "group_vars" / "all"
                                / "operator_overrides.yml").read_text())
    assert set(overrides) == set(OVERRIDDEN_FILES)
    wrong = []
    for var, (hosts, path) in OVERRIDDEN_FILES.items():
        for host in hosts:
            conf = RawConfigParser(strict=False, interpolation=None)
            conf.read_string(region.exec(host, "cat", path).stdout)
            for section, options in overrides[var].items():
                for option, value in options.items():
                    want = ("true" if value else "false") if isinstance(value, bool) else str(value)
                    have = conf.get(section, option, fallback=None)
                    if have != want:
                        wrong.append("%s %s [%s] %s = %r, not %r" % (host, path, section, option, have, want))
    assert not wrong, wrong


def test_glance_lists_the_metadefs_of_the_target_release(upgraded, region):
    """The image API's metadata definitions catalog holds the namespaces of the release's
    files (the glance role loads what is missing; tempest's metadef tests need them)."""
    proc = region.exec("ctl-new", "env", "OS_CLOUD=lab-admin",
                       "/opt/stackhop/venvs/%s/bin/openstack" % TARGET,
                       "image", "metadef", "namespace", "list", "-f", "json")
    names = {row["namespace"] for row in json.loads(proc.stdout)}
    assert {"OS::Compute::Libvirt", "OS::Compute::Watchdog", "OS::Glance::CommonImageProperties"} <= names, names


@pytest.mark.skipif(chromium.binary() is None, reason="chromium is not installed (scripts/apt-packages.txt)")
def test_the_report_of_the_rehearsal_renders_in_chromium(upgraded):
    """The operator's view of this rehearsal: every phase of the run on the timeline, an
    API-down band per service, a screenshot that is not blank."""
    _run, _probe_fig, rep = upgraded
    dom = chromium.dump_dom(REPORT_DIR / "report.html")
    assert '<svg id="timeline"' in dom
    drawn = set(re.findall(r'class="phase" data-phase="([a-z_]+)" data-component="([a-z0-9_-]+)" '
                           r'data-host="([a-z0-9-]+)"', dom))
    assert drawn == {(p["phase"], p["component"], p["host"]) for p in rep["phases"]}
    for service in COMPONENTS:
        assert 'class="apidown" data-service="%s"' % service in dom, service
    png = chromium.screenshot(REPORT_DIR / "report.html", REPO / "build" / "lab" / "upgrade-region-report.png",
                              width=1600, height=1000)
    stats = chromium.pixel_stats(png)
    assert stats["distinct"] > 50 and stats["non_white"] > 0.05, stats


@pytest.mark.rehearsal("region-in-place")
def test_second_run_changes_nothing(upgraded, region):
    """The README's main command again: the region is found upgraded, nothing changes.
    A rehearsal's (region-in-place), not CI's: a whole second pass over the region costs
    ~8 min of CI's 45."""
    run = run_main_job(region, "main-job-again")
    FIGURES["second_run"] = {"rc": run.rc, "total_s": round(run.seconds),
                             "changed": run.changed() if run.record else None}
    _save()
    assert run.rc == 0, run.text[-6000:]
    assert run.record, "the report callback recorded no run of upgrade_region.yml"
    assert all(v == 0 for v in run.changed().values()), run.changed()


def test_a_new_server_boots_on_an_upgraded_compute_and_is_reached(upgraded, region):
    """Last: verify compares the region with its inventory from before the upgrade, so a
    server created after it would be "new" to the second run."""
    servers = [{"name": "vm1", "az": "az1", "network": "provider-vlan100"},
               {"name": "vm2", "az": "az2", "network": "provider-vlan100"},
               {"name": "vm3", "az": "az2", "network": "provider-vlan100"}]
    t0 = time.monotonic()
    run = run_playbook(region, REPO / "lab" / "playbooks" / "vms.yml", "region-vm3",
                       {"lab_vm_servers": servers, "stackhop_release": TARGET})
    FIGURES["new_server_s"] = round(time.monotonic() - t0, 1)
    _save()
    assert run.rc == 0, run.text[-4000:]


def test_the_volumes_moved_with_cinder_volume_and_still_detach_extend_and_delete(upgraded, region):
    """Issue 19 part 3, after the blue-green move (after verify and the second run, which
    compare the region with its inventory from before): the volumes test_lab_region_cinder.py
    made on ctl-old's cinder-volume (ctl-old@fake#fake) now name the host alias's service,
    which runs on ctl-new (cinder-manage volume update_host in the cinder cleanup); the
    attachment is kept; the old node's service records are gone; both volumes detach, extend
    (1 -> 2 GiB, through the moved cinder-volume's driver: the lab's, cinder's fake driver
    with an extend) and delete through the API."""
    cli = "OS_CLOUD=lab-admin /opt/stackhop/venvs/%s/bin/openstack" % TARGET
    services = cinder_lab.volume_services(region.name, cli, host="ctl-new")
    FIGURES["cinder_services_after"] = sorted("%s@%s %s" % (s["Binary"], s["Host"], s["State"]) for s in services)
    _save()
    assert not [s for s in services if s["Host"].split("@")[0] in ("ctl-old", "ctl-new")], services
    running = {s["Host"] for s in services if s["Binary"] == "cinder-volume" and s["State"] == "up"}
    assert running == {"cinder@fake"}, services
    state = LabState(region)
    assert state.unit_release("ctl-new", "cinder-volume") == TARGET
    assert state.unit_state("ctl-old", "cinder-volume").get("ActiveState") != "active"
    for name, server in cinder_lab.KEPT.items():
        shown = json.loads(cinder_lab.sh(region.name, "%s volume show %s -f json" % (cli, name), host="ctl-new").stdout)
        got = cinder_lab.row(region.name, shown["id"])
        FIGURES.setdefault("cinder_volume_hosts", {})[name] = got[4]
        _save()
        assert got[4].split("#")[0] in running, (name, got)
        assert shown["status"] == ("in-use" if server else "available"), shown
        if server:
            vm_id = json.loads(cinder_lab.sh(region.name, "%s server show %s -f json" % (cli, server), host="ctl-new").stdout)["id"]
            assert [a["server_id"] for a in shown["attachments"]] == [vm_id], shown["attachments"]
            cinder_lab.sh(region.name, "%s server remove volume %s %s" % (cli, server, shown["id"]), host="ctl-new")
            assert cinder_lab.wait_status(region.name, cli, shown["id"], ("available",), host="ctl-new") == "available"
        size = int(shown["size"]) + 1
        cinder_lab.sh(region.name, "%s volume set --size %d %s" % (cli, size, shown["id"]), host="ctl-new")
        assert cinder_lab.wait_status(region.name, cli, shown["id"], ("available", "error_extending"),
                                      host="ctl-new") == "available"
        got = cinder_lab.row(region.name, shown["id"])
        FIGURES.setdefault("cinder_extended", {})[name] = got[3]
        _save()
        assert got[3] == str(size), got
        cinder_lab.sh(region.name, "%s volume delete %s" % (cli, shown["id"]), host="ctl-new")
        for _attempt in range(60):
            got = cinder_lab.row(region.name, shown["id"])
            if got and got[2] == "1":
                break
            time.sleep(2)
        assert got and got[1] == "deleted", got
