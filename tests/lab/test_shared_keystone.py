"""One keystone shared by two regions (issue 22 part 3, HULK: a region per datacenter, one
keystone for all), on a lab of its own: the rehearsal ``shared-keystone``
(scripts/rehearse.sh shared-keystone).

The lab is the lab region with the inventory variant ``sharedks``
(lab/inventory-variants/sharedks.yml): keystone runs on ks, in no region, with its own
MariaDB; the lab's region (RegionOne: ctl-old, ctl-new, cmp1, cmp2, two VMs) uses it, and
so does a second region, RegionTwo (ctl-r2: glance and placement, its own MariaDB).
Proven:

* the two regions share one keystone: each region's identity endpoint is ks's; each region's image
  endpoint its own; no keystone on the regions' controllers;
* ``upgrade_region.yml -e stackhop_select_region=RegionOne`` to 2025.1 (blue-green, the
  VMs' probe running) leaves keystone and RegionTwo alone: a poller issuing a token from
  keystone and reading RegionTwo's image and placement APIs (whose middleware validates
  the token against keystone) every 0.5 s fails no read; the keystone and RegionTwo units
  keep their process and their release; RegionOne runs 2025.1; no VM packet lost;
* ``playbooks/upgrade_keystone.yml`` upgrades ks on its own, in place, to 2025.1: the
  poller measures keystone's window; RegionOne's and RegionTwo's units keep their process;
  after it both regions' services authenticate (RegionTwo's reads, RegionOne's verify);
* a second run of upgrade_keystone.yml changes nothing.

Figures go to build/lab/shared-keystone-figures.json and are printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO
from tests.lib.argv_sampler import load_lab_secrets
from tests.lib.cp_lab import log, run_playbook
from tests.lib.lab_logs import keep_logs
from tests.lib.region_lab import RegionLab, kept_lab_is_up, lab_up

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(9000),
              pytest.mark.rehearsal("shared-keystone")]

LAB = os.environ.get("STACKHOP_SHARED_KEYSTONE_LAB", "shks")
KEEP = os.environ.get("STACKHOP_SHARED_KEYSTONE_KEEP") == "1"
UP_TIMEOUT = 4800
CURRENT, TARGET = "2024.1", "2025.1"
KS, R2, OLD, NEW = "ks", "ctl-r2", "ctl-old", "ctl-new"
R2_UNITS = ["glance-api", "placement-api"]
R1_UNITS = ["glance-api", "placement-api", "nova-api", "nova-conductor", "nova-scheduler", "neutron-server",
            "cinder-api", "cinder-scheduler"]
UPGRADE = REPO / "lab" / "playbooks" / "upgrade_region.yml"
KEYSTONE = REPO / "playbooks" / "upgrade_keystone.yml"
VERIFY = REPO / "playbooks" / "verify.yml"
PROBE = REPO / "lab" / "playbooks" / "probe.yml"
ACKS = REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml"
REGION_ID = "shks-RegionOne-2024.1-to-2025.1"
KEYSTONE_ID = "shks-keystone-2024.1-to-2025.1"
KEYSTONE_VARS = {"stackhop_target_release": TARGET, "stackhop_upgrade_id": KEYSTONE_ID, "stackhop_approval": "auto",
                 "verify_tempest": False}

REPORTS = REPO / "build" / "reports"
FIGURES = REPO / "build" / "lab" / "shared-keystone-figures.json"
# the VMs' probe on the lab region's controllers only (ctl-r2 has no VM)
PROBE_HOSTS = {"lab_probe_hosts": "stackhop_controllers:&lab"}


def keystone_vars():
    """The keystone run's variables, with the lab's acknowledgements of the pre-flight's warnings."""
    return dict(yaml.safe_load(ACKS.read_text()) or {}, **KEYSTONE_VARS)


# Runs in the lab's switch namespace until SIGTERM, then prints its figures: every 0.5 s a
# token from keystone and a read of RegionTwo's image and placement APIs with it.
POLLER = r"""
import json, signal, sys, time, urllib.request
args = json.load(sys.stdin)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
figures = {name: {"calls": 0, "failed": 0, "windows": [], "errors": []} for name in ("token", "image", "placement")}
open_since = {}

def call(url, token=None, body=None, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=args["timeout"]) as resp:
        return resp.headers, json.loads(resp.read() or b"{}")

def record(name, fn):
    now = time.time()
    figures[name]["calls"] += 1
    try:
        result = fn()
    except Exception as exc:  # the failure is the figure
        figures[name]["failed"] += 1
        if len(figures[name]["errors"]) < 20:
            figures[name]["errors"].append("%s %s" % (time.strftime("%H:%M:%S"), exc))
        open_since.setdefault(name, now)
        return None
    if name in open_since:
        figures[name]["windows"].append([open_since[name], round(now - open_since.pop(name), 2)])
    return result

def token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": args["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    headers, _doc = call("http://%s:5000/v3/auth/tokens" % args["keystone"], body=body)
    return headers["X-Subject-Token"]

current = None
while not stop:
    t0 = time.monotonic()
    current = record("token", token) or current
    if current:
        record("image", lambda: call("http://%s:9292/v2/images" % args["glance"], current))
        record("placement", lambda: call("http://%s:8778/resource_providers" % args["placement"], current,
                                         headers={"OpenStack-API-Version": "placement 1.20"}))
    time.sleep(max(0.0, args["period"] - (time.monotonic() - t0)))
for name, open_at in open_since.items():
    figures[name]["windows"].append([open_at, None])
print(json.dumps(figures))
"""


class Poller:
    """POLLER in the lab's switch namespace, from start() to stop() (its figures)."""

    def __init__(self, lab, addresses):
        self.lab, self.addresses, self.proc = lab, addresses, None

    def start(self):
        args = dict(self.addresses, password=load_lab_secrets()["stackhop_admin_password"], period=0.5, timeout=10)
        self.proc = subprocess.Popen(["ip", "netns", "exec", Lab(LAB).switch, "/usr/bin/python3", "-c", POLLER],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(json.dumps(args))
        self.proc.stdin.close()
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.stdin = None  # start() wrote and closed it; communicate() would flush it
        out, _err = self.proc.communicate(timeout=60)
        figures = json.loads(out)
        for entry in figures.values():
            entry["longest_s"] = max([w[1] or 0 for w in entry["windows"]] or [0])
        return figures


def save(key, data):
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    doc[key] = data
    FIGURES.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def unit_state(lab, host, unit):
    """(MainPID, the release whose venv ExecStart runs) of ``unit`` on ``host``."""
    out = lab.exec(host, "systemctl", "show", "-p", "MainPID", "-p", "ExecStart", unit).stdout
    pid = [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("MainPID=")][0]
    release = [r for r in (CURRENT, TARGET) if "/opt/stackhop/venvs/%s/" % r in out]
    return int(pid), (release[0] if release else None)


def states(lab, units_by_host):
    return {"%s %s" % (host, unit): unit_state(lab, host, unit) for host, units in units_by_host.items()
            for unit in units}


def probe(lab, action, **extra):
    run = run_playbook(lab, PROBE, "shks-probe-%s" % action, dict(PROBE_HOSTS, lab_probe_action=action, **extra))
    assert run.rc == 0, run.text[-3000:]
    if action == "report":
        return json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    return None


@pytest.fixture(scope="module")
def shared(lab_base, request):
    """The lab region with the variant sharedks, release N, the VMs pinging (scripts/lab-up.sh)."""
    took = 0.0
    if not (KEEP and kept_lab_is_up(LAB)):
        took = lab_up(LAB, env={"STACKHOP_LAB_VARIANT": "sharedks"}, timeout=UP_TIMEOUT, keep=KEEP)
        print("\nlab %s: two regions sharing ks's keystone, 2024.1, VMs up in %.0f s" % (LAB, took))
        save("lab_up_s", round(took))
    region = RegionLab(LAB, owned=not KEEP, seconds=took)
    hv = region.hostvars
    region.poll_addresses = {"keystone": hv[OLD]["stackhop_service_addresses"]["keystone"],
                             "glance": hv[R2]["stackhop_service_addresses"]["glance"],
                             "placement": hv[R2]["stackhop_service_addresses"]["placement"]}
    yield region
    if not KEEP:
        keep_logs(LAB, request.session)
        Lab(LAB).destroy()


def openstack(lab, host, *argv):
    out = lab.exec(host, "env", "OS_CLOUD=lab-admin", "/opt/stackhop/venvs/%s/bin/openstack" % CURRENT,
                   *argv, "-f", "json").stdout
    return json.loads(out)


def test_two_regions_share_one_keystone(shared):
    endpoints = openstack(shared, OLD, "endpoint", "list")
    by = {}
    for ep in endpoints:
        if ep["Interface"] == "public":
            by.setdefault(ep["Service Type"], {})[ep["Region"]] = ep["URL"]
    print("\npublic endpoints: %s" % json.dumps(by))
    addresses = shared.poll_addresses
    # identity in both regions at the one keystone (keystonemiddleware and the SDK look it up in their own region)
    assert sorted(by["identity"]) == ["RegionOne", "RegionTwo"]
    assert all(addresses["keystone"] in url for url in by["identity"].values())
    assert sorted(by["image"]) == ["RegionOne", "RegionTwo"] and addresses["glance"] in by["image"]["RegionTwo"]
    assert sorted(by["placement"]) == ["RegionOne", "RegionTwo"]
    assert addresses["keystone"] in shared.addresses(KS)
    for host in (OLD, R2):
        assert shared.exec(host, "systemctl", "is-active", "keystone", check=False).stdout.strip() != "active", host
    assert unit_state(shared, KS, "keystone")[1] == CURRENT
    # RegionTwo's services authenticate at the shared keystone
    poller = Poller(shared, addresses).start()
    time.sleep(10)  # a round (a token, two reads) takes about a second here
    figures = poller.stop()
    assert all(f["calls"] >= 5 and f["failed"] == 0 for f in figures.values()), figures


def watched_run(shared, playbook, name, extra, upgrade_id, untouched, timeout):
    """One playbook run with the poller running through it and the untouched units' state
    read before and after: (run, its figures)."""
    before = states(shared, untouched)
    poller = Poller(shared, shared.poll_addresses).start()
    run = run_playbook(shared, playbook, name, extra, report_dir=REPORTS / upgrade_id, timeout=timeout)
    polled = poller.stop()
    return run, {"rc": run.rc, "seconds": round(run.seconds), "polled": polled, "untouched_before": before,
                 "untouched_after": states(shared, untouched), "log": str(run.log)}


@pytest.fixture(scope="module")
def region_upgraded(shared):
    probe(shared, "start", lab_probe_reset=True)
    extra = yaml.safe_load(ACKS.read_text()) or {}
    extra.update({"stackhop_target_release": TARGET, "stackhop_select_region": "RegionOne",
                  "stackhop_upgrade_id": REGION_ID, "stackhop_approval": "auto", "verify_tempest": False})
    run, figures = watched_run(shared, UPGRADE, "shks-region-one", extra, REGION_ID,
                               {KS: ["keystone"], R2: R2_UNITS}, 6000)
    vms = probe(shared, "report")
    figures.update({"vm_icmp": vms.get("icmp"), "vm_tcp": vms.get("tcp")})
    save("region_one_upgrade", figures)
    log("RegionOne 2024.1 -> 2025.1 beside the shared keystone: %s" % json.dumps(figures, indent=1))
    return run, figures


def test_upgrading_one_region_leaves_the_keystone_and_the_other_region_alone(region_upgraded, shared):
    run, figures = region_upgraded
    assert run.rc == 0, run.text[-6000:]
    assert "Region RegionOne (without the shared keystone)" in run.text
    polled = figures["polled"]
    assert all(f["calls"] > 100 and f["failed"] == 0 for f in polled.values()), polled
    assert figures["untouched_after"] == figures["untouched_before"]
    for unit in R1_UNITS:
        assert unit_state(shared, NEW, unit)[1] == TARGET, unit
    assert figures["vm_icmp"]["sent"] > 1000 and figures["vm_icmp"]["lost"] == 0, figures["vm_icmp"]
    assert figures["vm_tcp"]["resets"] == 0, figures["vm_tcp"]


@pytest.fixture(scope="module")
def keystone_upgraded(region_upgraded, shared):
    run, figures = watched_run(shared, KEYSTONE, "shks-keystone", keystone_vars(), KEYSTONE_ID,
                               {NEW: R1_UNITS, R2: R2_UNITS}, 3600)
    save("keystone_upgrade", figures)
    log("the shared keystone 2024.1 -> 2025.1 in place: %s" % json.dumps(figures, indent=1))
    return run, figures


def test_the_keystone_is_upgraded_on_its_own(keystone_upgraded, shared):
    run, figures = keystone_upgraded
    assert run.rc == 0, run.text[-6000:]
    assert unit_state(shared, KS, "keystone")[1] == TARGET
    assert figures["untouched_after"] == figures["untouched_before"]
    # in place: keystone's one window (its stop to its start), RegionTwo's reads fail only inside it
    print("\nkeystone's window: %s" % {k: (v["failed"], v["longest_s"]) for k, v in figures["polled"].items()})
    assert figures["polled"]["token"]["calls"] > 20


def test_both_regions_authenticate_after_the_keystone_upgrade(keystone_upgraded, shared):
    poller = Poller(shared, shared.poll_addresses).start()
    time.sleep(10)
    polled = poller.stop()
    assert all(f["calls"] >= 10 and f["failed"] == 0 for f in polled.values()), polled
    run = run_playbook(shared, VERIFY, "shks-verify-region-one",
                       {"stackhop_select_region": "RegionOne", "verify_release": TARGET, "verify_tempest": False})
    save("verify_region_one_after_keystone", {"rc": run.rc, "seconds": round(run.seconds)})
    assert run.rc == 0, run.text[-6000:]


def test_a_second_keystone_run_changes_nothing(keystone_upgraded, shared):
    run = run_playbook(shared, KEYSTONE, "shks-keystone-again", keystone_vars(), report_dir=REPORTS / KEYSTONE_ID,
                       timeout=3600)
    assert run.rc == 0, run.text[-6000:]
    assert run.record, "the report callback recorded no run of upgrade_keystone.yml"
    changed = {h: v for h, v in run.changed().items() if v}
    save("keystone_again", {"rc": run.rc, "seconds": round(run.seconds), "changed": changed})
    print("\nsecond run of upgrade_keystone.yml: %.0f s, changed %s" % (run.seconds, changed))
    assert not changed, changed
