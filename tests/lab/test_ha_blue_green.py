"""Issue 18, proof 2: a blue-green upgrade behind HAProxy, on the topology ha with its variant
``hablue`` (scripts/lab-up.sh --topology ha, STACKHOP_LAB_VARIANT=hablue): release N
(2024.1) on ctl1-3 behind HAProxy's VIP, Galera and a RabbitMQ cluster, and a fourth
controller ctl4 in stackhop_controllers_new whose servers wait in every API backend,
disabled.

The main job's upgrade_region.yml with control_plane_strategy blue_green and the endpoint
switch ``haproxy``, 2024.1 -> 2025.1, with the VMs' probe and the API probe through the VIP
(version documents, and a read of every API and a write of neutron, cinder and glance): each
component stopped on every old controller, migrated, started on ctl4, and its backends
moved there on every HAProxy node (ctl4 ready once its check is up, ctl1-3 in maintenance).
Shown: no packet lost, every control unit of ctl4 on 2025.1 and none of ctl1-3 running,
every API backend serving from ctl4 only, the API downtime of each service in the report
(printed beside the rolling run's of the rehearsal ha-region when its figures are there),
and a second run changing nothing.

The lab (STACKHOP_HA_BLUE_GREEN_LAB, default ``hablue``) is destroyed at the end unless
STACKHOP_HA_BLUE_GREEN_KEEP=1. The rehearsal ``ha-blue-green``.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO
from tests.lib.cp_lab import api_downtime, log, probe_check_figures, report, run_playbook
from tests.lib.lab_logs import keep_logs
from tests.lib.region_lab import RegionLab, haproxy_stat_rows, kept_lab_is_up, lab_up

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(14000),
              pytest.mark.rehearsal("ha-blue-green")]

LAB = os.environ.get("STACKHOP_HA_BLUE_GREEN_LAB", "hablue")
KEEP = os.environ.get("STACKHOP_HA_BLUE_GREEN_KEEP") == "1"
FIGURES = REPO / "build" / "lab" / "ha-blue-green-figures.json"
ROLLING_FIGURES = REPO / "build" / "lab" / "ha-region-figures.json"
OLD = ("ctl1", "ctl2", "ctl3")
NEW = "ctl4"
LBS = OLD                               # HAProxy and keepalived run on ctl1-3
APIS = ("keystone", "glance", "placement", "nova", "neutron", "cinder")
CONTROL_UNITS = ["keystone", "glance-api", "placement-api", "nova-api", "nova-conductor", "nova-scheduler",
                 "neutron-server", "cinder-api", "cinder-scheduler", "cinder-volume"]
TARGET = "2025.1"
UPGRADE_ID = "hablue-2024.1-to-2025.1"
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
UPGRADE = REPO / "lab" / "playbooks" / "upgrade_region.yml"
PROBE = REPO / "lab" / "playbooks" / "probe.yml"
ACKS = REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml"
WRITES = ["neutron", "cinder", "glance"]


def save_figures(key, data):
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    doc[key] = data
    FIGURES.write_text(json.dumps(doc, indent=1, sort_keys=True))


@pytest.fixture(scope="module")
def ha(lab_base, request):
    """The topology ha with ctl4 waiting (variant hablue), 2024.1 deployed, the VMs pinging."""
    lab = Lab(LAB)
    reused = KEEP and kept_lab_is_up(LAB)
    took = 0.0
    if not reused:
        took = lab_up(LAB, ["--topology", "ha"], env={"STACKHOP_LAB_VARIANT": "hablue"}, timeout=4800,
                      keep=KEEP)
        print("\nlab %s: the topology ha with ctl4 waiting, 2024.1 and its VMs up in %.0f s" % (LAB, took))
        save_figures("lab_up_s", round(took))
    region = RegionLab(LAB, owned=not KEEP, seconds=took)
    yield region
    if not KEEP:
        keep_logs(LAB, request.session)
        lab.destroy()


def api_servers(ha, host):
    """{(backend, server): status} of the API backends on ``host``'s HAProxy."""
    return {(r["pxname"], r["svname"]): r["status"] for r in haproxy_stat_rows(ha, host)
            if r["pxname"] in APIS and r["svname"] not in ("FRONTEND", "BACKEND")}


def _upgrade_vars():
    extra = yaml.safe_load(ACKS.read_text()) or {}
    extra.update({"stackhop_target_release": TARGET, "stackhop_control_plane_strategy": "blue_green",
                  "stackhop_endpoint_switch_method": "haproxy", "stackhop_upgrade_id": UPGRADE_ID,
                  "stackhop_approval": "auto", "control_plane_api_probe": True,
                  "api_probe_mode": "authenticated", "api_probe_writes": WRITES,
                  # the same probe settings as the rolling run of ha-region, so the two compare
                  "api_probe_hz": 2, "api_probe_timeout": 30.0,
                  "api_probe_read_timeout": 30.0, "api_probe_write_timeout": 30.0,
                  "verify_tempest": False})
    return extra


@pytest.fixture(scope="module")
def moved(ha):
    before = api_servers(ha, LBS[0])
    assert {s for (_b, s), status in before.items() if status == "MAINT"} == {NEW}, before
    assert run_playbook(ha, PROBE, "hablue-probe-start", {"lab_probe_action": "start", "lab_probe_reset": True}).rc == 0
    run = run_playbook(ha, UPGRADE, "hablue-upgrade", _upgrade_vars(), report_dir=REPORT_DIR, timeout=12000)
    assert run_playbook(ha, PROBE, "hablue-probe-report", {"lab_probe_action": "report"}).rc == 0
    probe = json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    api = {e["service"]: e for e in report(REPORT_DIR).get("api") or []}
    figures = {"rc": run.rc, "seconds": round(run.seconds), "api_down_s": api_downtime(REPORT_DIR),
               "api_reads": {s: probe_check_figures(api.get(s, {}).get("reads")) for s in APIS},
               "api_writes": {s: probe_check_figures(api.get(s, {}).get("writes")) for s in WRITES},
               "vm_icmp": probe.get("icmp"), "vm_tcp": probe.get("tcp"), "log": str(run.log)}
    save_figures("blue_green", figures)
    log("blue-green behind HAProxy 2024.1 -> 2025.1: %s" % json.dumps(figures, indent=1))
    if ROLLING_FIGURES.exists():
        rolling = (json.loads(ROLLING_FIGURES.read_text()).get("ha_region") or {}).get("rolling") or {}
        print("\nAPI down (s), rolling vs blue-green behind HAProxy:")
        for service in APIS:
            print("  %-10s %-24s %s" % (service, (rolling.get("api_down_s") or {}).get(service),
                                        figures["api_down_s"].get(service)))
    return run, probe, figures


def test_the_blue_green_upgrade_behind_haproxy_loses_no_packet(moved):
    run, probe, figures = moved
    assert run.rc == 0, run.text[-6000:]
    assert probe["icmp"]["sent"] > 1000 and probe["icmp"]["lost"] == 0, probe["icmp"]
    assert probe["tcp"]["resets"] == 0, probe["tcp"]
    assert set(figures["api_down_s"]) >= set(APIS), figures["api_down_s"]
    assert all(figures["api_writes"][s] and figures["api_writes"][s]["calls"] > 0 for s in WRITES), \
        figures["api_writes"]


def test_ctl4_serves_every_api_on_the_target_and_the_old_controllers_none(moved, ha):
    for unit in CONTROL_UNITS:
        name = unit if unit != "neutron-server" else "neutron-api"
        exec_start = ha.exec(NEW, "systemctl", "show", "-p", "ExecStart", "--value", name).stdout
        assert "/opt/stackhop/venvs/%s/" % TARGET in exec_start, (unit, exec_start[:200])
        for host in OLD:
            for old_name in sorted({unit, name}):
                active = ha.exec(host, "systemctl", "is-active", old_name, check=False).stdout.strip()
                assert active != "active", (host, old_name)
    for lb in LBS:
        servers = api_servers(ha, lb)
        for api in APIS:
            assert servers[(api, NEW)] == "UP", (lb, api, servers)
            assert all(servers[(api, host)] == "MAINT" for host in OLD), (lb, api, servers)


def test_a_second_blue_green_run_changes_nothing(moved, ha):
    run = run_playbook(ha, UPGRADE, "hablue-upgrade-again", _upgrade_vars(), report_dir=REPORT_DIR, timeout=5000)
    assert run.rc == 0, run.text[-6000:]
    changed = {h: v for h, v in run.changed().items() if v}
    save_figures("blue_green_again", {"rc": run.rc, "seconds": round(run.seconds), "changed": changed})
    assert not changed, changed
