"""The rehearsals: the long lab proofs scripts/rehearse.sh runs one after the other, each
on a lab of its own, and the one summary table made from the figures they saved.

    python -m tests.lib.rehearsals list               # names and what each proves
    python -m tests.lib.rehearsals command NAME       # the run's argv, NUL-separated
    python -m tests.lib.rehearsals collect DIR NAME   # after a run: keep its figures
    python -m tests.lib.rehearsals summary DIR [NAME...]  # no NAME: every one recorded

``collect`` copies the figures file a rehearsal's tests saved to DIR/NAME/figures.json
right after its run (only if written after the start: an older file is another run's; two
rehearsals save to the same file, so the copy is taken before the next one starts).
``summary`` reads DIR/NAME/run.json (rc, start, seconds, commit: written by rehearse.sh),
DIR/NAME/junit.xml and those figures, prints the table and writes DIR/summary.md and
DIR/summary.json. Without NAME it takes every rehearsal with a run.json in DIR, so runs
of several invocations on one commit make one table; the commit column says which tree
each ran on. A figure a rehearsal does not record is printed as "-". Standard library only.
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ["keystone", "glance", "placement", "nova", "neutron", "cinder", "ironic"]


@dataclass(frozen=True)
class Rehearsal:
    name: str
    proves: str
    lab: str              # the lab it deploys (distinct: they may be left up after a failure)
    tests: tuple          # pytest's arguments
    figures: str = None   # the JSON file its tests save, relative to the repository
    run_key: str = None   # the measured run's entry in it (None: the whole file)
    env: dict = field(default_factory=dict)


REHEARSALS = [
    Rehearsal(
        "control-plane",
        "control plane 2024.1 -> 2025.1 blue-green with every API polled at 4 Hz and the VMs "
        "pinging, a second run changing nothing, 2025.1 -> 2025.2 in place, rollback to 2024.1",
        "cpt", ("tests/lab/test_control_plane.py",), "build/cp-test/figures.json", "bg_2025_1",
        {"STACKHOP_CP_LAB_NAME": "cpt"}),
    Rehearsal(
        "fast-forward",
        "control plane 2024.1 -> 2025.2 fast-forward through every release's migrations with "
        "MariaDB stopped, a service killed and the play interrupted; plain re-runs converge, "
        "nothing lost",
        "cpffu", ("tests/lab/test_control_plane.py",), "build/cp-test/figures.json", "ffu_2025_2",
        {"STACKHOP_CP_LAB_NAME": "cpffu"}),
    Rehearsal(
        "compute-upgrade",
        "computes 2024.1 -> 2025.1: conntrack zones kept, a legacy (kilo) data plane with and "
        "without the quirk tasks, upgrade_computes.yml interrupted in az2 and resumed with 0 "
        "packets lost, a second run changing nothing",
        "cmcu", ("tests/lab/test_compute_upgrade.py",),
        "build/lab/compute-upgrade-figures.json", "upgrade_computes"),
    Rehearsal(
        "verify-rollback",
        "verify.yml on a 2024.1 region; rollback.yml in place and after a blue-green switch: "
        "every table equal to the dump, configs and service addresses back, API downtime",
        "vrreg", ("tests/lab/test_verify_rollback.py",), "build/results/rollback-blue-green.json"),
    Rehearsal(
        "region-in-place",
        "lab/playbooks/deploy.yml --check --diff on the deployed region printing no secret and changing "
        "nothing, every pre-flight check stopping the region it breaks and passing once "
        "repaired, the main job's upgrade_region.yml 2024.1 -> 2025.1, a second run of the main "
        "job changing nothing, then the region's next hop 2025.1 -> 2025.2 in place with the "
        "VMs' probe (figures: the in-place hop)",
        "rgn", ("tests/lab/test_no_secret_on_argv.py", "tests/lab/test_lab_region_cinder.py",
                "tests/lab/test_preflight_on_lab.py", "tests/lab/test_upgrade_region.py",
                "tests/lab/test_upgrade_region_in_place.py"),
        "build/lab/upgrade-region-in-place-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "rgn"}),
    Rehearsal(
        "region-rollback",
        "the main job's upgrade_region.yml 2024.1 -> 2025.1, then rollback.yml of the whole region with "
        "the VMs' probe: the computes in the upgrade's batches, then the control plane; every unit on "
        "2024.1, 0 packets lost, every table equal to the dump, a server booted, the rollback's time; "
        "a second rollback of the computes changing nothing",
        "rgnrb", ("tests/lab/test_lab_region_cinder.py", "tests/lab/test_upgrade_region.py",
                  "tests/lab/test_rollback_region.py"),
        "build/lab/rollback-region-figures.json", "rollback",
        {"STACKHOP_LAB_REGION_LAB": "rgnrb"}),
    Rehearsal(
        "region-api-probe",
        "the blue-green control plane 2024.1 -> 2025.1 of a lab region with the API probe's "
        "authenticated mode: per service a read (keystone token issue, glance, placement, nova, "
        "neutron, cinder lists) and neutron, cinder and glance writes at 4 Hz through the VIPs, "
        "their windows in the report, no probe object left, the credentials file 0600 and gone",
        "rgnap", ("tests/lab/test_upgrade_region_api_probe.py",),
        "build/lab/upgrade-region-api-probe-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "rgnap"}),
    Rehearsal(
        "db-move",
        "the database moved with the control plane (DeNA's blue-green): a region whose inventory "
        "names a second MariaDB on ctl-new (variant dbmove) upgraded 2024.1 -> 2025.1 by the main "
        "job with every dump loaded there, checksummed and migrated there, 0 packets lost, ctl-old's "
        "server untouched; then rollback.yml serving on the old server again, nothing restored, "
        "every table equal to the dumps",
        "dbmv", ("tests/lab/test_db_move.py",), "build/lab/db-move-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "dbmv", "STACKHOP_LAB_VARIANT": "dbmove"}),
    Rehearsal(
        "ironic",
        "ironic deployed and upgraded (DeNA's last component): a region with ironic-api, ironic-conductor "
        "and nova-compute-ironic on ctl-old (variant ironic), two fake-hardware nodes and a bare-metal "
        "server, upgraded 2024.1 -> 2025.1 blue-green by the main job: the server ACTIVE on the same "
        "node, nova's host fields on ctl-new, a second bare-metal server booted, ironic's API downtime",
        "irn", ("tests/lab/test_ironic_region.py",), "build/lab/ironic-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "irn", "STACKHOP_LAB_VARIANT": "ironic"}),
    Rehearsal(
        "tempest",
        "tempest's smoke tests in the main job's upgrade 2024.1 -> 2025.1: run in pre-flight "
        "and in verify with a tempest.conf written from the region, the report's before/after "
        "table with no regression, and an injected regression failing verify with one sentence",
        "tmp", ("tests/lab/test_tempest.py",), "build/lab/tempest-figures.json", "tempest"),
    Rehearsal(
        "fleet",
        "a lab region of 32 computes in 4 AZs with 3 VMs each: the compute phase's cost model fitted "
        "from runs of one AZ predicts the whole fleet's upgrade_computes.yml within 20 %, no VM "
        "packet lost; neutron-server's RPC, heartbeats and database with the 32 agents restarted "
        "at once and at the default throttle, which keeps every bound",
        "fleet", ("tests/lab/test_fleet.py",), "build/lab/fleet-figures.json", "upgrade_fleet"),
    Rehearsal(
        "molecule-lab",
        "molecule test -s lab: a whole second region deployed from scratch, converged again "
        "for idempotence, verified with testinfra",
        "region", ("tests/lab/test_molecule.py::test_molecule_scenario[lab]",)),
    Rehearsal(
        "debian-region",
        "a region stackhop did not deploy: OpenStack zed from Debian 12's own packages on three "
        "lab hosts, configured the operator's way, two VMs pinging, every component found by "
        "service_discovery as apt 2022.2, no secret on any command line; then upgraded zed -> "
        "2024.1 onto venvs with the VMs' probe: the plan and check mode first, every operator "
        "setting, owner and mode kept, the packages' users, a new server, a second run changing nothing",
        "debregion", ("tests/lab/test_debian_region.py",)),
    Rehearsal(
        "ironic-in-place",
        "the rehearsal ironic's region upgraded in place instead (variant ironic-in-place): ironic and "
        "nova-compute-ironic on 2025.1 on ctl-old, the bare-metal server ACTIVE on the same node, nova's "
        "records and the aggregate unchanged, a second bare-metal server booted, ironic's API downtime",
        "irnip", ("tests/lab/test_ironic_region.py",), "build/lab/ironic-in-place-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "irnip", "STACKHOP_LAB_VARIANT": "ironic-in-place"}),
    Rehearsal(
        "ha-infra",
        "the topology ha's infrastructure on three systemd hosts from Debian's packages: a Galera "
        "cluster, a RabbitMQ cluster with quorum queues, HAProxy and keepalived; the VIP moves "
        "when its node's HAProxy stops, a stopped Galera node rejoins on a re-run without a new "
        "bootstrap, a second run changes nothing, no secret on an argv",
        "hainf", ("tests/lab/test_ha_infra.py",)),
    Rehearsal(
        "host-packages",
        "what runs on the operators' hosts from packages: Open vSwitch's role upgrading and "
        "reinstalling the Debian package with ovs-vswitchd and every packet kept, Debian's "
        "keystone moved onto stackhop's venv and back (venv_dropin), discovery finding a "
        "Debian-packaged keystone run as its own user (labs cmovs, vdrop, debpkg)",
        "cmovs", ("tests/lab/test_openvswitch_role.py", "tests/packages/test_venv_dropin_on_lab_host.py",
                  "tests/lab/test_discovery_packages.py")),
    Rehearsal(
        "ha-region",
        "2024.1 on the topology ha with the collection's roles: every API, scheduler and conductor "
        "on each of three controllers behind HAProxy's VIP, Galera and a RabbitMQ cluster with "
        "quorum queues, four computes with VMs pinging; one controller's APIs stopped without a "
        "failed read through the VIP, a second run changing nothing; then upgrade_region.yml with "
        "control_plane_strategy rolling to 2025.1 (each controller drained from HAProxy in turn, ctl3's "
        "services SIGKILLed on the way) with no failed API read, no packet lost, and a second run "
        "changing nothing",
        "haregion", ("tests/lab/test_ha_region.py",), "build/lab/ha-region-figures.json", "ha_region"),
    Rehearsal(
        "ha-blue-green",
        "the topology ha with a fourth controller waiting (variant hablue: ctl4, its servers disabled in "
        "every HAProxy backend): upgrade_region.yml 2024.1 -> 2025.1 blue_green with the endpoint switch "
        "haproxy, each component stopped on ctl1-3 and started on ctl4, its backends moved there once ctl4's "
        "check is up; no packet lost, every API served by ctl4 only, the API downtime beside the rolling "
        "run's, and a second run changing nothing",
        "hablue", ("tests/lab/test_ha_blue_green.py",), "build/lab/ha-blue-green-figures.json", "blue_green",
        {"STACKHOP_HA_BLUE_GREEN_LAB": "hablue"}),
    Rehearsal(
        "shared-keystone",
        "one keystone shared by two regions (variant sharedks: keystone on ks in no region, the lab's "
        "RegionOne and a RegionTwo with glance and placement): upgrade_region.yml of RegionOne to "
        "2025.1 with the VMs' probe leaves keystone and RegionTwo untouched (a token and RegionTwo's "
        "reads every 0.5 s: 0 failed), then upgrade_keystone.yml upgrades keystone on its own in place, "
        "both regions authenticating after, and a second run",
        "shks", ("tests/lab/test_shared_keystone.py",), "build/lab/shared-keystone-figures.json",
        "region_one_upgrade", {"STACKHOP_SHARED_KEYSTONE_LAB": "shks"}),
    Rehearsal(
        "rabbitmq-move",
        "the services moved to a new RabbitMQ with the control plane (NHN's blue-green, variant mqmove: a "
        "second RabbitMQ on ctl-new): upgrade_region.yml 2024.1 -> 2025.1 with the VMs' probe and the "
        "authenticated API probe's writes, the brokers bridged, every service and the computes' agents on "
        "the new broker after, the old one with no client and no message, the bridge down, the moved "
        "services' notifications on a transport of their own; then rollback.yml of the region: the brokers "
        "bridged again, every service back on the old broker, the new one free, 0 packets lost",
        "mqmv", ("tests/lab/test_rabbitmq_move.py",), "build/lab/rabbitmq-move-figures.json", "upgrade",
        {"STACKHOP_LAB_REGION_LAB": "mqmv", "STACKHOP_LAB_VARIANT": "mqmove"}),
]
BY_NAME = {r.name: r for r in REHEARSALS}


def command(rehearsal, python=sys.executable, out_dir=None):
    """argv of one rehearsal's run: env (only this rehearsal selected) + pytest."""
    env = ["STACKHOP_REHEARSAL=%s" % rehearsal.name]
    env += ["%s=%s" % kv for kv in sorted(rehearsal.env.items())]
    argv = ["env"] + env + [python, "-m", "pytest", "-s"]
    if out_dir:
        argv.append("--junitxml=%s" % (Path(out_dir) / rehearsal.name / "junit.xml"))
    return argv + list(rehearsal.tests)


# --- the figures -----------------------------------------------------------------------

def packets(run):
    """(ICMP lost, ICMP sent, TCP resets) of one measured run's figures, or None each."""
    icmp = run.get("vm_icmp") or run.get("icmp") or (run.get("probe") or {}).get("icmp") or {}
    tcp = run.get("vm_tcp") or run.get("tcp") or (run.get("probe") or {}).get("tcp") or {}
    return icmp.get("lost"), icmp.get("sent"), tcp.get("resets")


def api_down(run):
    """{service: seconds down}; the tests save [down, longest, windows] or a dict."""
    api = run.get("api_down_s") or run.get("api_downtime") or {}
    out = {}
    for service, value in api.items():
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        elif isinstance(value, dict):
            value = value.get("down_s")
        if value is not None:
            out[service] = float(value)
    return out


def junit_counts(path):
    """{tests, passed, failed, skipped} of pytest's junit XML, or None without one."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {"tests": total["tests"], "failed": total["failures"] + total["errors"],
            "skipped": total["skipped"],
            "passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"]}


def collect(rehearsal, out_dir, repo=REPO):
    """Copy the figures this run saved to out_dir/NAME/figures.json; True if there were."""
    rdir = Path(out_dir) / rehearsal.name
    run = json.loads((rdir / "run.json").read_text())
    if not rehearsal.figures:
        return False
    path = Path(repo) / rehearsal.figures
    if not path.exists() or path.stat().st_mtime < run["start"]:
        return False
    shutil.copyfile(path, rdir / "figures.json")
    return True


def recorded(out_dir):
    """The rehearsals with a run recorded in out_dir, in the catalogue's order."""
    return [r.name for r in REHEARSALS if (Path(out_dir) / r.name / "run.json").exists()]


def row(rehearsal, out_dir, repo=REPO):
    """One rehearsal's line of the summary (a dict, also the JSON's)."""
    rdir = Path(out_dir) / rehearsal.name
    run = json.loads((rdir / "run.json").read_text())
    counts = junit_counts(rdir / "junit.xml")
    # rc 0 with nothing passed (all skipped, nothing collected) proves nothing
    passed = run["rc"] == 0 and bool(counts) and counts["passed"] > 0
    # rehearse.sh empties rdir before the run, so a figures.json in it is this run's
    if (rdir / "figures.json").exists() or collect(rehearsal, out_dir, repo):
        figures = json.loads((rdir / "figures.json").read_text())
    else:
        figures = {}
    measured = figures.get(rehearsal.run_key, {}) if rehearsal.run_key else figures
    lost, sent, resets = packets(measured or {})
    return {"rehearsal": rehearsal.name, "result": "passed" if passed else "failed",
            "rc": run["rc"], "minutes": round(run["seconds"] / 60.0, 1), "tests": counts,
            "commit": run.get("commit"),
            "lab": rehearsal.lab, "icmp_lost": lost, "icmp_sent": sent, "tcp_resets": resets,
            "api_down_s": api_down(measured or {}),
            "tempest_s": [measured.get("before_s"), measured.get("after_s")]
            if (measured or {}).get("after_s") is not None else None,
            "figures": str(rdir / "figures.json") if figures else None}


def _cell(value):
    return "-" if value is None else str(value)


def table(rows):
    """The Markdown table of the summary."""
    lines = ["| rehearsal | result | minutes | commit | tests | ICMP lost/sent | TCP resets | "
             "API down (s) |", "|---|---|---:|---|---|---:|---:|---|"]
    for r in rows:
        c = r["tests"]
        tests = "-" if not c else ", ".join(
            "%d %s" % (c[k], k) for k in ("passed", "failed", "skipped") if c[k])
        icmp = "-" if r["icmp_sent"] is None else "%s/%s" % (_cell(r["icmp_lost"]), r["icmp_sent"])
        down = r["api_down_s"]
        order = [s for s in SERVICES if s in down] + sorted(set(down) - set(SERVICES))
        api = ", ".join("%s %.1f" % (s, down[s]) for s in order) or "-"
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["rehearsal"], r["result"], r["minutes"], _cell(r.get("commit")), tests or "-", icmp,
            _cell(r["tcp_resets"]), api))
    for r in rows:
        if r.get("tempest_s"):
            lines.append("")
            lines.append("%s: tempest ran %s s before the upgrade and %s s after it" % (
                r["rehearsal"], _cell(r["tempest_s"][0]), _cell(r["tempest_s"][1])))
    return "\n".join(lines) + "\n"


def summary(out_dir, names, repo=REPO):
    """Rows of ``names``, written to out_dir/summary.md and summary.json; the table."""
    rows = [row(BY_NAME[n], out_dir, repo) for n in names]
    text = table(rows)
    Path(out_dir, "summary.md").write_text("# Rehearsals\n\n" + text)
    Path(out_dir, "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows, text


def main(argv):
    if argv[:1] == ["list"]:
        for r in REHEARSALS:
            print("%-16s %s (lab %s)" % (r.name, r.proves, r.lab))
        return 0
    if argv[:1] == ["names"]:
        print("\n".join(r.name for r in REHEARSALS))
        return 0
    if len(argv) in (2, 3) and argv[0] == "command" and argv[1] in BY_NAME:
        sys.stdout.write("\0".join(command(BY_NAME[argv[1]], out_dir=argv[2] if len(argv) == 3 else None)))
        return 0
    if len(argv) == 3 and argv[0] == "collect" and argv[2] in BY_NAME:
        collect(BY_NAME[argv[2]], argv[1])
        return 0
    if len(argv) >= 2 and argv[0] == "summary" and all(n in BY_NAME for n in argv[2:]):
        names = argv[2:] or recorded(argv[1])
        if not names:
            print("rehearse: no rehearsal recorded in %s" % argv[1], file=sys.stderr)
            return 2
        rows, text = summary(argv[1], names)
        print(text, end="")
        return 0 if all(r["result"] == "passed" for r in rows) else 1
    print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
