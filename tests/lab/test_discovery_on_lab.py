"""stackhop.upgrade.service_discovery on the lab region's real hosts (systemd in each,
services in stackhop's venvs, set process titles, uwsgi run by a venv's Python), before
its upgrade: every component found where the inventory puts it, at 2024.1, with the
config files its processes read; the plan's "What runs now" and the pre-flight's check. The rest of discovery (Debian's packages and their
wrappers, other venvs, mixed and unknown states) is tests/discovery on host trees."""

from __future__ import annotations

import json

import pytest

from tests.lab.conftest import ansible_play
from tests.lib.ansible_runner import REPO, run_playbook

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]

VENV = "/opt/stackhop/venvs/2024.1"


def runs(component):
    """How discovery describes a stackhop-deployed component: it runs as its own user."""
    return "2024.1 (venv %s, stackhop's, as %s:%s)" % (VENV, component, component)


def how(*components):
    """A host's line: its components, each as it runs."""
    return "; ".join("%s %s" % (c, runs(c)) for c in components)


def test_discovery_finds_what_the_region_runs(lab_region):
    rc, results = ansible_play(lab_region, [{"name": "discover", "stackhop.upgrade.service_discovery": {}}],
                               hosts="ctl-old:cmp1:cmp2:ctl-new")
    assert rc == 0, results
    found = {host: res[0] for host, res in results.items()}
    assert all(r["changed"] is False and r["problems"] == [] for r in found.values()), found

    ctl = found["ctl-old"]["components"]
    for component in ("keystone", "glance", "placement", "nova", "neutron", "cinder"):
        assert ctl[component]["state"] == "ok", (component, ctl[component])
        assert (ctl[component]["release"], ctl[component]["install_method"], ctl[component]["managed_by"],
                ctl[component]["python_env"]) == ("2024.1", "venv", "stackhop", VENV), component
    assert ctl["ironic"]["state"] == "absent"
    assert set(ctl["neutron"]["running"]) == {"neutron-server.service", "neutron-dhcp-agent.service",
                                              "neutron-openvswitch-agent.service"}
    services = {s["unit"]: s for s in found["ctl-old"]["services"] if s["state"] != "absent"}
    # uwsgi under the venv's Python: nova's WSGI app reads its directory from the unit
    assert services["nova-api.service"]["config_files"][-1] == "/etc/nova/nova.conf"
    # neutron's agents set their process title; the command line is still read from it
    assert services["neutron-dhcp-agent.service"]["config_files"] == [
        "/etc/neutron/neutron.conf", "/etc/neutron/dhcp_agent.ini"]
    assert services["neutron-dhcp-agent.service"]["config_source"] == "command line"
    assert services["nova-conductor.service"]["log_path"] == "/var/log/nova/nova-conductor.log"

    for cmp in ("cmp1", "cmp2"):
        comps = found[cmp]["components"]
        assert comps["nova"]["running"] == ["nova-compute.service"], comps["nova"]
        assert comps["neutron"]["running"] == ["neutron-openvswitch-agent.service"], comps["neutron"]
        assert comps["nova"]["release"] == comps["neutron"]["release"] == "2024.1"
        assert {c["state"] for n, c in comps.items() if n not in ("nova", "neutron")} == {"absent"}
    # the blue-green target is empty before the upgrade
    assert {c["state"] for c in found["ctl-new"]["components"].values()} == {"absent"}


def test_plan_prints_what_runs_and_preflight_checks_it(lab_region, tmp_path):
    """plan.yml (online) has the "What runs now" lines; the pre-flight's discovery check
    passes for the declared 2024.1 -> 2025.1 and stops a region declared at a release
    its hosts do not run, naming host, component and fix."""
    proc = run_playbook(REPO / "playbooks" / "plan.yml", inventory=lab_region, timeout=600,
                        extra_vars={"stackhop_plan_dir": str(tmp_path), "stackhop_current_release": "2024.1",
                                    "stackhop_target_release": "2025.1"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    plan = json.loads(next(tmp_path.glob("plan-*.json")).read_text())
    assert plan["discovered"] == [
        "cmp1: %s" % how("nova", "neutron"), "cmp2: %s" % how("nova", "neutron"), "ctl-new: nothing of OpenStack",
        "ctl-old: %s" % how("keystone", "glance", "placement", "nova", "neutron", "cinder")]
    assert "- What runs now (read from the hosts)" in next(tmp_path.glob("plan-*.md")).read_text()
    # the region's config files against 2025.1's options (staged beside 2024.1): the
    # options stackhop writes and the lab's overrides are all declared; none is renamed
    changes = plan["config_changes"]
    assert "ctl-old /etc/nova/nova.conf -> 2025.1: nothing changes" in changes, changes
    assert "cmp1 /etc/neutron/plugins/ml2/openvswitch_agent.ini -> 2025.1: nothing changes" in changes, changes
    assert all(line.endswith("nothing changes") for line in changes), changes

    play = tmp_path / "discovery-preflight.yml"
    play.write_text(json.dumps([{
        "name": "The pre-flight's discovery check", "gather_facts": False,
        "hosts": "stackhop_controllers:stackhop_controllers_new:stackhop_computes",
        "tasks": [{"name": "Pre-flight", "ansible.builtin.include_role": {"name": "stackhop.upgrade.preflight"},
                   "vars": {"preflight_checks": ["discovery"]}}]}]))
    ok = run_playbook(play, inventory=lab_region, timeout=600,
                      extra_vars={"stackhop_current_release": "2024.1", "stackhop_target_release": "2025.1"})
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert "OK      discovery  ctl-new  nothing yet (the blue-green target" in ok.stdout
    wrong = run_playbook(play, inventory=lab_region, timeout=600,
                         extra_vars={"stackhop_current_release": "2023.1", "stackhop_target_release": "2023.2"})
    assert wrong.returncode != 0
    # the callback may print the message as a YAML single-quoted scalar (quotes doubled)
    flat = " ".join(wrong.stdout.replace("''", "'").split())
    assert "[discovery on ctl-old] On ctl-old, keystone runs %s, but the region is declared 2023.1 -> 2023.2" % runs("keystone") \
        in flat, wrong.stdout[-3000:]
