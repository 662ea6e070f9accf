"""The API probe's authenticated mode on the lab region: the blue-green control plane
2024.1 -> 2025.1 (playbooks/upgrade_control_plane.yml, ctl-old -> ctl-new) with
``control_plane_api_probe=true`` and ``api_probe_mode=authenticated``.

The probe runs on the Ansible controller in the lab's switch namespace, as in the main job,
and measures through the service addresses (VIPs) of the catalogue: each service's version
document, a read of each of keystone (token issue), glance, placement, nova, neutron and
cinder, and a write of neutron (network + port), cinder (a 1 GB volume on the lab's fake
driver) and glance (an image record), at 4 Hz, from before keystone moves to after cinder
has. Proven:

* the upgrade passes with the probe running; its credentials came from the clouds.yaml entry
  ``lab-admin`` of ctl-old into a 0600 file on the controller, removed at the stop, and
  never on a command line;
* the report (report.json, report.html) holds, per service, the reads and writes: calls,
  failed calls, windows and the longest; reads kept >= 3 calls a second on average; the
  writes created and deleted objects and left none (no ``stackhop-probe-*`` object in the
  cloud after the stop).

The figures (version-document windows beside the read and write windows) are printed and
saved to build/lab/upgrade-region-api-probe-figures.json. Whether every read passed is a
figure, not an assertion: a blue-green move stops each API for its dump and migrations.

A rehearsal of its own (``region-api-probe``: it needs the region on 2024.1, so it never
runs in the chain after test_upgrade_region.py):

    STACKHOP_REHEARSAL=region-api-probe STACKHOP_LAB_REGION_LAB=apw \\
        python -m pytest tests/lab -m region_chain -s -k test_upgrade_region_api_probe
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib.cp_lab import COMPONENTS, api_downtime, log, probe_check_figures, report, run_playbook
# the region chain's region and its state reader (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import region, state  # noqa: F401  pylint: disable=unused-import
from tests.lab.conftest import REGION_LAB
from tests.lib.ansible_runner import REPO

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400),
              pytest.mark.rehearsal("region-api-probe")]

PLAYBOOK = REPO / "playbooks" / "upgrade_control_plane.yml"
CURRENT, TARGET = "2024.1", "2025.1"
UPGRADE_ID = "%s-api-probe-2024.1-to-2025.1" % REGION_LAB
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
FIGURES_FILE = REPO / "build" / "lab" / "upgrade-region-api-probe-figures.json"
FIGURES = {}
READS = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
WRITES = ["neutron", "cinder", "glance"]


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def upgraded(region, state):
    serving = state.unit_release("ctl-old", "nova-api")
    assert serving == CURRENT, "this module needs the region on %s (a fresh lab region); " \
        "nova-api on ctl-old runs %s" % (CURRENT, serving)
    extra = {"stackhop_target_release": TARGET, "stackhop_control_plane_strategy": "blue_green",
             "stackhop_upgrade_id": UPGRADE_ID, "control_plane_api_probe": True,
             "api_probe_mode": "authenticated", "api_probe_writes": WRITES}
    # the role's credentials file on this machine (the Ansible controller), while the probe runs
    creds = Path("/run/stackhop-api-probe/stackhop-api-probe-%s.credentials.json" % UPGRADE_ID)

    def look_at_credentials():
        FIGURES["credentials_mode"] = oct(os.stat(creds).st_mode & 0o777)
    with ArgvSampler(load_lab_secrets(), lab=region.name) as sampler:
        run = run_playbook(region, PLAYBOOK, "upgrade-cp-api-probe", extra, report_dir=REPORT_DIR,
                           timeout=5000, triggers=[(r"TASK \[.*Say what is polled", look_at_credentials)])
    FIGURES["credentials_left"] = creds.exists()
    rep = report(REPORT_DIR)
    api = {e["service"]: e for e in rep.get("api") or []}
    FIGURES["upgrade"] = {"rc": run.rc, "total_s": round(run.seconds), "log": str(run.log),
                          "api_down_s": api_downtime(REPORT_DIR), "argv_samples": sampler.samples,
                          "argv_secret_hits": len(sampler.hits)}
    probes = {}
    for path in (REPORT_DIR / "probes").glob("api-*.json"):
        rec = json.loads(path.read_text())
        probes["%s/%s" % (rec.get("service"), rec.get("check", "version"))] = {
            k: rec.get(k) for k in ("polls", "polls_per_s", "failed_polls", "start", "end")}
    FIGURES["records"] = probes
    FIGURES["reads"] = {s: probe_check_figures(api.get(s, {}).get("reads")) for s in READS}
    FIGURES["writes"] = {s: probe_check_figures(api.get(s, {}).get("writes")) for s in WRITES}
    _save()
    log("authenticated API probe through %s -> %s blue-green:\n%s" % (
        CURRENT, TARGET, json.dumps({k: FIGURES[k] for k in ("upgrade", "reads", "writes")}, indent=1)))
    return run, rep, api


def test_the_upgrade_passes_with_the_authenticated_probe(upgraded):
    run, rep, _api = upgraded
    assert run.rc == 0, run.text[-6000:]
    assert rep["status"] == "ok", rep.get("failed_phases")
    assert "API probe" in run.text and "authenticated, reads" in run.text
    assert FIGURES["upgrade"]["argv_samples"] > 50 and FIGURES["upgrade"]["argv_secret_hits"] == 0


def test_every_service_has_reads_and_the_listed_writes(upgraded):
    _run, _rep, api = upgraded
    assert set(api_downtime(REPORT_DIR)) >= set(COMPONENTS)
    for service in READS:
        reads = api[service].get("reads")
        assert reads and reads["polls"] > 100, (service, reads)
        per_s = FIGURES["records"]["%s/read" % service]["polls_per_s"]
        # 4 Hz wanted; a read that times out (5 s) while the API hangs slows its thread
        assert per_s >= 3.0, (service, per_s)
    for service in WRITES:
        writes = api[service].get("writes")
        assert writes and writes["polls"] > 50 and writes["created"] > 20, (service, writes)
        assert writes["leftovers"] == 0, (service, writes)
    for service in ("nova", "placement", "keystone"):
        assert not api[service].get("writes")


def test_no_probe_object_is_left_in_the_cloud(upgraded, state):
    _run, _rep, _api = upgraded
    left = {}
    for kind in ("network", "port", "image", "volume"):
        names = [row.get("Name") for row in state.openstack_json("ctl-new", TARGET, kind, "list")]
        left[kind] = [n for n in names if n and n.startswith("stackhop-probe-")]
    FIGURES["left_in_cloud"] = left
    _save()
    assert not any(left.values()), left


def test_the_credentials_file_was_0600_and_is_gone(upgraded):
    run, _rep, _api = upgraded
    assert "Write the probe's credentials file" in run.text
    assert FIGURES.get("credentials_mode") == "0o600", FIGURES.get("credentials_mode")
    assert FIGURES["credentials_left"] is False


def test_the_report_draws_reads_and_writes_per_service(upgraded):
    run, _rep, _api = upgraded
    html = (REPORT_DIR / "report.html").read_text()
    assert 'id="apichecks"' in html
    for service in READS:
        assert 'class="apicheck" data-service="%s"' % service in html, service
    assert "| API | reads | failed reads |" in run.text   # the stop's table, printed
