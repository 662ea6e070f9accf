"""Fixtures for the lab's own tests: labs named ``lab*`` made by lab/labctl.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lab.labctl import Lab, netns_list, pid_alive
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib.lab_logs import keep_logs

FOUR_HOSTS = {
    "controllers": {"ctl1": {"ansible_host": "10.31.0.11"}},
    "network_nodes": {"net1": {"ansible_host": "10.31.0.21", "lab_provider": True,
                               "lab_ovs": True}},
    "computes": {"cmp1": {"ansible_host": "10.31.0.31", "lab_provider": True, "lab_ovs": True},
                 "cmp2": {"ansible_host": "10.31.0.32", "lab_provider": True, "lab_ovs": True}},
}


def write_inventory(path, groups):
    """An Ansible YAML inventory (JSON is YAML) with the given {group: {host: vars}}."""
    data = {"all": {"children": {g: {"hosts": hosts} for g, hosts in groups.items()}}}
    Path(path).write_text(json.dumps(data, indent=1))
    return Path(path)


def ansible_play(inventory, tasks, hosts="all", gather_facts=False, timeout=300):
    """Run a play through real ansible-playbook; return (rc, {host: [task results]})."""
    play = [{"hosts": hosts, "gather_facts": gather_facts, "tasks": tasks}]
    pb = Path(inventory).with_name("play-%d.json" % time.monotonic_ns())
    pb.write_text(json.dumps(play))
    proc = subprocess.run(
        [str(VENV / "bin" / "ansible-playbook"), "-i", str(inventory), str(pb)],
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}),
        capture_output=True, text=True, timeout=timeout, check=False)
    pb.unlink()
    try:
        out = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError("ansible-playbook printed no JSON (rc=%d):\n%s\n%s" % (
            proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from exc
    results = {}
    for task in out["plays"][0]["tasks"]:
        for host, res in task["hosts"].items():
            results.setdefault(host, []).append(res)
    return proc.returncode, results


def leftovers(lab):
    """Everything of ``lab`` still on the machine: must be empty after destroy."""
    marker = str(lab.dir) + "/"
    found = {"netns": [n for n in netns_list() if n.startswith(lab.name + "-")],
             "processes": [], "mounts": [], "links": [], "state_dir": lab.dir.exists()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            cmd = Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode()
            mounts = Path("/proc/%d/mounts" % pid).read_text()
        except OSError:
            continue
        if marker in cmd and pid_alive(pid) and pid != os.getpid():
            found["processes"].append("%d %s" % (pid, cmd[:120]))
        if marker in mounts:  # an overlay of this lab in ANY mount namespace
            found["mounts"].append(pid)
    found["mounts"] += [ln for ln in Path("/proc/mounts").read_text().splitlines()
                        if marker in ln]
    # The lab never creates links in the root namespace; make sure none of its names is here.
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True,
                                      check=True).stdout)
    found["links"] = [ln["ifname"] for ln in links
                      if ln["ifname"].startswith(lab.name + "-")
                      or ln["ifname"] in ("br-mgmt", "br-prov")
                      or re.match(r"^[mp][0-9]+$", ln["ifname"])]
    found["cgroups"] = [str(d) for d in lab.cgroups()]
    return {k: v for k, v in found.items() if v}


@pytest.fixture(scope="module")
def lab4(tmp_path_factory, lab_base):
    """The 4-host lab (ctl1, net1, cmp1, cmp2), created once per test module."""
    inv = write_inventory(tmp_path_factory.mktemp("lab4") / "hosts.yml", FOUR_HOSTS)
    lab = Lab("labt4")
    lab.destroy()
    t0 = time.monotonic()
    lab.create(inv)
    lab.create_seconds = time.monotonic() - t0
    lab.source_inventory = inv
    yield lab
    lab.destroy()


# --- the lab region: one deployed OpenStack region shared by every test that needs it ---

REGION_LAB = os.environ.get("STACKHOP_LAB_REGION_LAB", "regiontest")
REGION_UP_TIMEOUT = 3600  # a cold deploy on 2 cores shared with other jobs
# The id of the region chain's upgrade 2024.1 -> 2025.1 (tests/lab/test_upgrade_region.py);
# it names the lab, so two labs upgrading at once on this machine have two API probes.
REGION_UPGRADE_ID = "%s-2024.1-to-2025.1" % REGION_LAB


def argv_report_path(lab, phase):
    """Where the argv sampler's report of ``phase`` (deploy, upgrade...) of a lab region
    goes: build/lab/<lab>/argv-secrets-<phase>.json."""
    return REPO / "build" / "lab" / lab / ("argv-secrets-%s.json" % phase)


@pytest.fixture(scope="session")
def lab_region(lab_base, request):
    """A lab region brought up by the README's main command with STACKHOP_MAIN_UPGRADE=0
    (scripts/main.sh -> scripts/lab-up.sh: four lab hosts, release N deployed, two VMs
    pinging) for the whole session; yields the path of its inventory (build/lab/<lab>/hosts.yml).

    Brought up once, destroyed at the end of the session. STACKHOP_LAB_REGION_KEEP=1 keeps
    it, and the next session reuses a kept region whose hosts are up as it is, without
    deploying again (for working on tests; CI never sets it). Tests that break something
    in it restore it before they end, so every test sees a healthy region. The lab's name
    is STACKHOP_LAB_REGION_LAB (default ``regiontest``).
    """
    assert REGION_LAB != "stackhop", "the lab region tests need a lab other than `stackhop`"
    inventory = REPO / "build" / "lab" / REGION_LAB / "hosts.yml"
    keep = os.environ.get("STACKHOP_LAB_REGION_KEEP") == "1"
    if keep and inventory.exists() and Lab(REGION_LAB).state():
        status = subprocess.run([str(VENV / "bin" / "python"), str(REPO / "lab/labctl.py"),
                                 "status", "--lab", REGION_LAB], capture_output=True, check=False)
        if status.returncode == 0:
            print("\nreusing the kept lab region %s" % REGION_LAB)
            yield inventory
            return
    # the upgrade's id: the staging main.sh does before the window goes into its report
    env = ansible_env({"STACKHOP_VENV": str(VENV), "STACKHOP_LAB": REGION_LAB,
                       "STACKHOP_MAIN_UPGRADE": "0", "STACKHOP_MAIN_BENCH": "0",
                       "STACKHOP_UPGRADE_ID": REGION_UPGRADE_ID})
    t0 = time.monotonic()
    log = REPO / "build" / "reports" / ("lab-up-%s.log" % REGION_LAB)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv_report = argv_report_path(REGION_LAB, "deploy")
    argv_report.unlink(missing_ok=True)
    # every process's argv is sampled during the deploy: no secret may be on one
    # (tests/lab/test_no_secret_on_argv.py reads the report)
    with open(log, "w") as out, ArgvSampler(load_lab_secrets(), lab=REGION_LAB) as sampler:
        proc = subprocess.Popen([str(REPO / "scripts" / "main.sh")],
                                cwd=str(REPO), env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=REGION_UP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
    sampler.write(argv_report)
    took = time.monotonic() - t0
    if rc != 0:
        if not keep:
            Lab(REGION_LAB).destroy()
        tail = log.read_text(errors="replace")[-4000:]
        pytest.fail("STACKHOP_LAB=%s STACKHOP_MAIN_UPGRADE=0 scripts/main.sh: rc %s after %.0f s; "
                    "log %s\n%s" % (REGION_LAB, rc, took, log, tail))
    print("\nlab region %s up in %.0f s (log %s)" % (REGION_LAB, took, log))
    yield inventory
    if not keep:
        keep_logs(REGION_LAB, request.session)
        Lab(REGION_LAB).destroy()


# --- the region chain: one lab region taken through pre-flight's tests and then the
# whole-region upgrade (playbooks/upgrade_region.yml), in that order: a deploy costs
# 7-15 min on two cores, so a run deploys the region once. The rehearsals
# (scripts/rehearse.sh; tests marked ``rehearsal``) deploy labs of their own;
# STACKHOP_REGION_CHAIN=1 makes test_control_plane.py and test_compute_upgrade.py take
# the session's region instead (then run them without test_upgrade_region.py).
REGION_CHAIN = ["test_no_secret_on_argv.py", "test_lab_region_cinder.py", "test_discovery_on_lab.py",
                "test_preflight_on_lab.py",
                "test_control_plane.py", "test_compute_upgrade.py",
                # the rehearsal region-api-probe's only (it needs the region on 2024.1)
                "test_upgrade_region_api_probe.py", "test_upgrade_region.py",
                "test_upgrade_region_in_place.py",
                # the rehearsal region-rollback's only (after test_upgrade_region.py, never
                # with the in-place hop, which needs the region on 2025.1)
                "test_rollback_region.py"]


def region_chain_enabled():
    return os.environ.get("STACKHOP_REGION_CHAIN", "0") == "1"


def pytest_collection_modifyitems(session, config, items):
    """The chain's modules run last, in the chain's order; others keep theirs. Their tests
    are marked ``region_chain``: scripts/test.sh runs them in the lab tier, the others of
    tests/lab beside it."""
    for item in items:
        if getattr(item, "path", None) is not None and item.path.name in REGION_CHAIN:
            item.add_marker(pytest.mark.region_chain)

    def key(item):
        name = item.path.name if hasattr(item, "path") else ""
        return REGION_CHAIN.index(name) + 1 if name in REGION_CHAIN else 0
    items[:] = sorted(items, key=key)   # stable: order inside a module is kept
