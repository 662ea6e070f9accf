"""The Debian lab region: OpenStack zed from Debian 12's own packages on three lab hosts,
installed with apt and configured the operator's way by lab/playbooks/deploy_debian.yml
(no stackhop component role touches them), two VMs pinging through their security
groups (lab/playbooks/vms.yml). The first proof of issue 17: stackhop finds this cloud
as it is.

Brought up by ``scripts/lab-up.sh --topology debian`` on a lab of its own
(STACKHOP_DEBIAN_REGION_LAB, default ``debregion``) under the argv sampler. 25-40 minutes
on two busy cores, most of it apt: the rehearsal ``debian-region`` (scripts/rehearse.sh
debian-region). STACKHOP_DEBIAN_REGION_KEEP=1 keeps the region afterwards and reuses a
kept one whose hosts are up."""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import subprocess
import time
import types

import pytest
import yaml

from lab.labctl import Lab
from tests.lab.conftest import ansible_play, argv_report_path
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib.cp_lab import run_playbook
from tests.lib.lab_logs import keep_logs

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400),
              pytest.mark.rehearsal("debian-region")]

LAB = os.environ.get("STACKHOP_DEBIAN_REGION_LAB", "debregion")
KEEP = os.environ.get("STACKHOP_DEBIAN_REGION_KEEP") == "1"
UP_TIMEOUT = 4800

# Each host's Debian packages and the upstream version of zed they must carry
# (dpkg's version without epoch and Debian revision starts with it).
ZED = {"keystone": "22.", "glance-api": "25.", "placement-api": "8.", "nova-api": "26.",
       "nova-conductor": "26.", "nova-scheduler": "26.", "nova-consoleproxy": "26.", "neutron-api": "21.",
       "neutron-rpc-server": "21.", "neutron-dhcp-agent": "21.", "neutron-openvswitch-agent": "21.",
       "cinder-api": "21.", "cinder-scheduler": "21.", "nova-compute": "26."}
# The package of a unit whose package is named otherwise (nova-consoleproxy ships the
# noVNC, SPICE and serial proxies' units).
PACKAGE_OF = {"nova-novncproxy": "nova-consoleproxy"}
# unit -> the package's user it runs as
CONTROLLER_UNITS = {"keystone": "keystone", "glance-api": "glance", "placement-api": "placement",
                    "nova-api": "nova", "nova-conductor": "nova", "nova-scheduler": "nova",
                    # a console proxy: one of nova's units an operator's controller runs besides
                    "nova-novncproxy": "nova",
                    "neutron-api": "neutron", "neutron-rpc-server": "neutron",
                    "neutron-dhcp-agent": "neutron", "neutron-openvswitch-agent": "neutron",
                    "cinder-api": "cinder", "cinder-scheduler": "cinder"}
COMPUTE_UNITS = {"nova-compute": "nova", "neutron-openvswitch-agent": "neutron"}
HOSTS = {"ctl": CONTROLLER_UNITS, "cmp1": COMPUTE_UNITS, "cmp2": COMPUTE_UNITS}
COMPONENTS = {"ctl": ["keystone", "glance", "placement", "nova", "neutron", "cinder"],
              "cmp1": ["nova", "neutron"], "cmp2": ["nova", "neutron"]}
APIS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774, "neutron": 9696,
        "cinder": 8776}


@pytest.fixture(scope="module")
def debian_region(lab_base, request):
    lab = Lab(LAB)
    inventory = REPO / "build" / "lab" / LAB / "hosts.yml"
    if KEEP and inventory.exists() and lab.state():
        status = subprocess.run([str(VENV / "bin" / "python"), str(REPO / "lab/labctl.py"),
                                 "status", "--lab", LAB], capture_output=True, check=False)
        if status.returncode == 0:
            yield lab
            return
    log = REPO / "build" / "reports" / ("lab-up-%s.log" % LAB)
    log.parent.mkdir(parents=True, exist_ok=True)
    argv_report = argv_report_path(LAB, "deploy")
    argv_report.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "w") as out, ArgvSampler(load_lab_secrets(), lab=LAB) as sampler:
        proc = subprocess.run([str(REPO / "scripts" / "lab-up.sh"), "--topology", "debian",
                               "--lab", LAB], cwd=str(REPO), env=ansible_env({"STACKHOP_VENV": str(VENV)}),
                              stdout=out, stderr=subprocess.STDOUT, timeout=UP_TIMEOUT, check=False)
    sampler.write(argv_report)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        if not KEEP:
            lab.destroy()
        pytest.fail("scripts/lab-up.sh --topology debian --lab %s: rc %s after %.0f s; log %s\n%s" % (
            LAB, proc.returncode, took, log, log.read_text(errors="replace")[-4000:]))
    print("\nDebian region %s up in %.0f s (log %s)" % (LAB, took, log))
    yield lab
    if not KEEP:
        keep_logs(LAB, request.session)
        lab.destroy()


def host_sh(lab, host, script, timeout=120):
    proc = subprocess.run(lab.exec_argv(host, ["/bin/sh", "-ec", script]), capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s: %s\n%s" % (host, script, proc.stderr)
    return proc.stdout.strip()


def test_every_package_is_debians_zed(debian_region):
    for host, units in HOSTS.items():
        names = sorted(PACKAGE_OF.get(unit, unit) for unit in units)
        out = host_sh(debian_region, host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n' "
                      + " ".join(names))
        found = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
        for name in names:
            version, status = found[name]
            upstream = version.split(":", 1)[-1]
            assert status == "installed" and upstream.startswith(ZED[name]), (host, name, version, status)


def test_every_unit_runs_as_its_packages_user(debian_region):
    for host, units in HOSTS.items():
        for unit, user in units.items():
            out = host_sh(debian_region, host, "systemctl show -p ActiveState -p SubState -p MainPID "
                          "-p FragmentPath %s" % unit)
            props = dict(line.split("=", 1) for line in out.splitlines())
            assert (props["ActiveState"], props["SubState"]) == ("active", "running"), (host, unit, props)
            # the packages' own units, not units of stackhop's
            assert props["FragmentPath"] == "/lib/systemd/system/%s.service" % unit, (host, unit, props)
            # the main process and its children (uwsgi's workers, glance's...) run as the
            # package's user; the agents' root helpers start through sudo (rootwrap, privsep)
            procs = [line.split() for line in host_sh(debian_region, host, "ps -o user:32=,comm= --ppid %s -p %s" % (
                props["MainPID"], props["MainPID"])).splitlines()]
            assert procs and all(who == user or comm == "sudo" for who, comm in procs), (host, unit, procs)


def test_every_api_answers(debian_region):
    tasks = [{"name": "GET %s" % name,
              "ansible.builtin.uri": {"url": "http://10.20.0.11:%d/" % port, "status_code": [200, 300, 401]}}
             for name, port in APIS.items()]
    rc, results = ansible_play(debian_region.inventory, tasks, hosts="ctl")
    assert rc == 0, results
    statuses = dict(zip(APIS, [r["status"] for r in results["ctl"]]))
    print("\nAPI status codes: %s" % statuses)


def test_discovery_finds_every_component_ok_zed_apt(debian_region):
    rc, results = ansible_play(REGION.inventory, [
        {"name": "discover", "stackhop.upgrade.service_discovery": {}}])
    assert rc == 0, results
    for host, wanted in COMPONENTS.items():
        result = results[host][0]
        assert result["changed"] is False
        for name in wanted:
            component = result["components"][name]
            assert (component["state"], component["release"], component["install_method"]) == (
                "ok", "2022.2", "apt"), (host, name, component, result["problems"])
            assert component["managed_by"] == "package" and component["python_env"] == "system", (host, name, component)
        assert result["problems"] == [], (host, result["problems"])
        print("\n%s: %s" % (host, {n: (result["components"][n]["user"], sorted(result["components"][n]["running"]))
                                   for n in wanted}))


def test_vm1_pings_vm2_through_their_security_groups(debian_region):
    where = {}
    for host in ("cmp1", "cmp2"):
        for netns in json.loads(host_sh(debian_region, host, "ip -j netns list") or "[]"):
            if netns["name"] in ("vm-vm1", "vm-vm2"):
                where[netns["name"]] = host
    assert set(where) == {"vm-vm1", "vm-vm2"} and where["vm-vm1"] != where["vm-vm2"], where
    addrs = json.loads(host_sh(debian_region, where["vm-vm2"], "ip -n vm-vm2 -j -4 addr show dev eth0"))
    vm2_ip = addrs[0]["addr_info"][0]["local"]
    out = host_sh(debian_region, where["vm-vm1"], "ip netns exec vm-vm1 ping -c 5 -i 0.2 -W 2 %s" % vm2_ip)
    assert " 0% packet loss" in out, out


def test_the_deploy_put_no_secret_on_any_argv(debian_region):
    path = argv_report_path(LAB, "deploy")
    if not path.exists():
        pytest.skip("the region was reused and its deploy was not sampled")
    report = json.loads(path.read_text())
    assert not report["hits"], report["hits"]


# -- issue 17, proofs 2-5: the region upgraded zed -> 2024.1 onto venvs, in place -----------
# upgrade_region.yml (lab/playbooks/upgrade_region.yml: the product's, with the VMs' probe
# figures) with lab/inventory-debian/upgrade-2024.1.yml; part of the rehearsal since its
# first run passed (STACKHOP_DEBIAN_UPGRADE=0 leaves the region at zed). Figures:
# build/lab/debian-upgrade-figures.json.
UPGRADE = os.environ.get("STACKHOP_DEBIAN_UPGRADE", "1") == "1"
UPGRADE_VARS = REPO / "lab" / "inventory-debian" / "upgrade-2024.1.yml"
UPGRADE_ID = "debian-2022.2-to-2024.1"
UPGRADE_REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
CHECK_REPORT_DIR = REPO / "build" / "reports" / (UPGRADE_ID + "-check")
DEBIAN_FIGURES = REPO / "build" / "lab" / "debian-upgrade-figures.json"
needs_upgrade = pytest.mark.skipif(not UPGRADE, reason="STACKHOP_DEBIAN_UPGRADE=0: the region stays at zed")
# the playbooks' inventory: the lab's hosts with the region's group_vars beside them
# (scripts/lab-up.sh writes it; labctl's own inventory has only the connections)
REGION = types.SimpleNamespace(inventory=REPO / "build" / "lab" / LAB / "hosts.yml")


def _configs(lab):
    """{host: {path: (text, owner:group mode)}} of every oslo.config file discovery finds."""
    rc, results = ansible_play(REGION.inventory, [{"name": "discover", "stackhop.upgrade.service_discovery": {}}])
    assert rc == 0, results
    out = {}
    for host in HOSTS:
        paths = sorted(set(p for s in results[host][0]["services"] if s.get("state") != "absent"
                           for p in s.get("config_files") or [] if p.endswith((".conf", ".ini"))
                           and "paste" not in p and "uwsgi" not in p))
        out[host] = {p: (host_sh(lab, host, "cat %s" % p), host_sh(lab, host, "stat -c '%%U:%%G %%a' %s" % p))
                     for p in paths}
    return out


def _options(text):
    """{(section, option): value} of an ini file's settings (comments and order aside)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    found = {("DEFAULT", k): v for k, v in parser.defaults().items()}
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            if (("DEFAULT", key) not in found) or found[("DEFAULT", key)] != value:
                found[(section, key)] = value
    return found


def _upgrade_vars():
    extra = yaml.safe_load(UPGRADE_VARS.read_text())
    extra.update({"stackhop_upgrade_id": UPGRADE_ID, "stackhop_approval": "auto"})
    return extra


def _upgrade(lab, name, report_dir=UPGRADE_REPORT_DIR, flags=()):
    playbook = REPO / "lab" / "playbooks" / "upgrade_region.yml"
    return run_playbook(REGION, playbook, name, _upgrade_vars(), report_dir=report_dir, timeout=5000,
                        flags=flags)


def _edit_key(edit):
    return edit["host"], edit["path"], edit["section"], edit["option"], edit["action"]


def _report_edits(report_dir, planned):
    """config_edits of the report (the upgrade_report callback's): the planned or applied ones."""
    path = report_dir / "report.json"
    edits = json.loads(path.read_text()).get("config_edits", []) if path.exists() else []
    return [e for e in edits if bool(e.get("planned")) == planned]


@pytest.fixture(scope="module")
def checked(debian_region):
    """Proof 5's first half, before anything changes: the target's code staged beside the
    packages (stage_release.yml starts and stops nothing), then the whole upgrade with
    --check --diff. The configs before and after it, the two runs, the planned edits."""
    before = _configs(debian_region)
    staged = run_playbook(REGION, REPO / "playbooks" / "stage_release.yml", "debian-stage", _upgrade_vars(),
                          timeout=5000)
    run = _upgrade(debian_region, "debian-upgrade-check", report_dir=CHECK_REPORT_DIR,
                   flags=("--check", "--diff"))
    return before, staged, run, _configs(debian_region), _report_edits(CHECK_REPORT_DIR, planned=True)


@pytest.fixture(scope="module")
def upgraded(debian_region, checked):
    """The configs before, the run (with the VMs' probe from before it to after it), the configs after."""
    before = _configs(debian_region)
    probe = REPO / "lab" / "playbooks" / "probe.yml"
    assert run_playbook(REGION, probe, "debian-probe-start",
                        {"lab_probe_action": "start", "lab_probe_reset": True}).rc == 0
    time.sleep(5)
    run = _upgrade(debian_region, "debian-upgrade")
    assert run_playbook(REGION, probe, "debian-probe-report", {"lab_probe_action": "report"}).rc == 0
    figures = json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    after = _configs(debian_region)
    DEBIAN_FIGURES.parent.mkdir(parents=True, exist_ok=True)
    DEBIAN_FIGURES.write_text(json.dumps({"rc": run.rc, "seconds": round(run.seconds), "probe": figures},
                                         indent=1) + "\n")
    return before, run, figures, after


@needs_upgrade
def test_the_plan_shows_discovery_the_hops_and_the_config_changes_per_file(checked, tmp_path):
    """plan.yml on the foreign cloud once the path's code is staged (the checked fixture),
    before the upgrade: this test comes before the first that needs the upgraded region."""
    extra = dict(_upgrade_vars(), stackhop_plan_dir=str(tmp_path))
    run = run_playbook(REGION, REPO / "playbooks" / "plan.yml", "debian-plan", extra, timeout=1800)
    assert run.rc == 0, run.text[-6000:]
    (md,) = tmp_path.glob("plan-*.md")
    text = md.read_text()
    print("\n" + text)
    # what runs, per host: Debian's packages of zed
    for host in HOSTS:
        assert any(line.strip().startswith("- %s: " % host) and "2022.2" in line and "apt" in line
                   for line in text.splitlines()), host
    # the hops of the fast-forward
    for hop in ("2023.1", "2023.2", "2024.1"):
        assert "migrations of %s" % hop in text, hop
    # the config changes of each file, with what a hop removes
    nova = [line for line in text.splitlines() if "ctl /etc/nova/nova.conf -> 2024.1:" in line]
    assert nova and "AvailabilityZoneFilter" in nova[0], nova


@needs_upgrade
def test_check_mode_before_the_upgrade_changes_nothing_and_plans_each_config_edit(checked, upgraded):
    before, staged, run, after_check, planned = checked
    assert staged.rc == 0, staged.text[-6000:]
    assert run.rc == 0, run.text[-6000:]
    # nothing written: every file, owner and mode as it was
    assert after_check == before
    # every edit the real run made to an operator's file, check mode planned and --diff showed
    applied = _report_edits(UPGRADE_REPORT_DIR, planned=False)
    # the fast-forward's workaround is set by the real run and taken off after it: not a lasting edit
    lasting = [e for e in applied if e["option"] != "disable_compute_service_check_for_ffu"]
    print("\ncheck mode planned %d edits; the upgrade made %d" % (len(planned), len(applied)))
    for edit in planned:
        print("  planned %s %s [%s] %s %s: %s" % (
            edit["host"], edit["path"], edit["section"], edit["option"], edit["action"], edit["reason"]))
    missing = {_edit_key(e) for e in lasting} - {_edit_key(e) for e in planned}
    assert not missing, sorted(missing)
    for path in {e["path"] for e in planned}:
        assert "after: %s" % path in run.text, path
    # --diff showed the operators' files, whose passwords it must not print
    printed = sorted(name for name, secret in load_lab_secrets().items() if secret and secret in run.text)
    assert not printed, "the upgrade's --check --diff printed the secrets %s" % printed


@needs_upgrade
def test_upgrade_zed_to_2024_1_onto_venvs_loses_no_packet(upgraded):
    dummy, run, figures, dummy_after = upgraded
    print("\nDebian region zed -> 2024.1: rc %d in %.0f s; probe %s" % (run.rc, run.seconds, figures))
    assert run.rc == 0, run.text[-6000:]
    assert figures["icmp"]["lost"] == 0 and figures["tcp"]["resets"] == 0, figures
    # the TCP stream ran (a stream that never connected has no resets either)
    assert figures["tcp"]["records_echoed"] > 0 and figures["tcp"]["reconnects"] == 0, figures["tcp"]


@needs_upgrade
def test_dhcp_renewals_kept_their_address_while_the_operators_dhcp_agent_moved(upgraded):
    """DeNA's drain on an adopted network node (the controller, upgraded in place): once the
    2024.1 server answered, Debian's zed DHCP agent was set admin-state-down, stopped when its
    dnsmasq processes were gone, moved onto the venv and set up again; the run waited until
    dnsmasq served every network. vm1 renewed its lease (600 s: the operator's
    dhcp_lease_duration) every 5 s throughout: none unanswered for half the lease, one address."""
    dummy, run, figures, dummy_after = upgraded
    assert run.rc == 0, run.text[-3000:]
    dhcp = figures["dhcp"]
    print("\nDebian region DHCP renewals: %d attempts, %d acked, %d failed, longest %.1f s"
          % (dhcp["attempts"], dhcp["acked"], dhcp["failed"], dhcp["longest_s"]))
    assert dhcp["attempts"] > 60, dhcp
    assert dhcp["failed"] == 0 and dhcp["naks"] == 0, [e for e in dhcp["events"] if e["kind"] == "loss"]
    assert len(dhcp["addresses"]) == 1, dhcp["addresses"]


@needs_upgrade
def test_every_resource_is_there_after_and_a_new_server_boots(upgraded):
    """The upgrade's verify step: the inventories saved before the upgrade (servers,
    networks, ports, images, volumes...) compared with the region after it, and a server
    booted on a compute of the target release (smoke check nova_boot)."""
    dummy, run, dummy_figures, dummy_after = upgraded
    written = [line.split("stackhop wrote ", 1)[1].strip().strip('"') for line in run.text.splitlines()
               if "stackhop wrote " in line and "/verify-" in line]
    assert written, "the upgrade wrote no verification file"
    verification = json.loads(pathlib.Path(written[-1]).read_text())
    boots = [c for c in verification["smoke"] if c.get("id") == "nova_boot"]
    print("\nverify: %d smoke checks, %s; inventories: %s" % (
        len(verification["smoke"]), boots, verification["inventories"]))
    assert boots and all(c["status"] == "ok" for c in boots), boots
    # none failed (cinder_volume_create is skipped: the region runs no cinder-volume)
    assert all(c["status"] in ("ok", "skipped") for c in verification["smoke"]), verification["smoke"]
    # {component: differences}: every component compared, none differs
    assert verification["inventories"] and not any(verification["inventories"].values()), \
        verification["inventories"]


@needs_upgrade
def test_every_unit_runs_2024_1_from_a_venv_as_its_packages_user(upgraded, debian_region):
    rc, results = ansible_play(REGION.inventory, [
        {"name": "discover", "stackhop.upgrade.service_discovery": {}}])
    assert rc == 0, results
    for host, units in HOSTS.items():
        services = {s["unit"][:-len(".service")]: s for s in results[host][0]["services"]}
        for unit, user in units.items():
            found = services[unit]
            assert (found["state"], found["release"], found["install_method"], found["user"]) == (
                "running", "2024.1", "venv", user), (host, unit, found)
            # the package's unit, moved by a drop-in
            assert found["unit_file"] == "/lib/systemd/system/%s.service" % unit, (host, unit, found)


@needs_upgrade
def test_configs_keep_every_operator_setting_owner_and_mode(upgraded):
    before, dummy, dummy_figures, after = upgraded
    settings = yaml.safe_load((REPO / "lab" / "inventory-debian" / "group_vars" / "all"
                               / "operator_settings.yml").read_text())["lab_debian_operator_settings"]
    edits = _report_edits(UPGRADE_REPORT_DIR, planned=False)
    for host in HOSTS:
        for path, (text, mode) in before[host].items():
            new_text, new_mode = after[host][path]
            assert new_mode == mode, (host, path, mode, new_mode)
            old, new = _options(text), _options(new_text)
            changed = sorted(set(old.items()) ^ set(new.items()))
            print("\n%s %s: %s" % (host, path, changed))
            # each difference is an edit the upgrade made and named (a rename, a removed option or
            # list item, a setting the upgrade needs, an override), from the report's config_edits
            explained = {(e["section"], e["option"]) for e in edits if (e["host"], e["path"]) == (host, path)}
            for (section, option), dummy_value in changed:
                assert (section, option) in explained, (host, path, section, option, sorted(explained))
            for section, values in settings.get(path, {}).items():
                for option, value in values.items():
                    if (section, option) not in old:
                        continue    # a setting of this file on another host (e.g. ctl's [quotas])
                    # every operator setting kept (a renamed one under its new name is in `changed`)
                    assert (section, option) in new or any(o == option for dummy_s, o in new), (host, path, option)


@needs_upgrade
def test_a_second_run_changes_nothing(upgraded, debian_region):
    run = _upgrade(debian_region, "debian-upgrade-again")
    assert run.rc == 0, run.text[-6000:]
    assert all(v == 0 for v in run.changed().values()), run.changed()
