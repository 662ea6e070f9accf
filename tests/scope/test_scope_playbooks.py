"""Region and AZ selection in every playbook (issue 15 item 2), run through ansible-playbook.

The example inventory's hosts do not exist: a test-only strategy (plugins/strategy) runs
only the controller-side plays (the scope play, the compute batch planning) and records
the hosts every other play resolves to, so nothing touches a host.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.lib.ansible_runner import REPO, VENV, ansible_env, run_playbook
from tests.scope.test_scope_filter import load

HERE = Path(__file__).resolve().parent
EXAMPLE = REPO / "inventories" / "example"
LAB = REPO / "lab" / "inventory" / "hosts.yml"
SCOPE_PLAY = "Select the hosts of the region (and AZ) into the group stackhop_scope"
RUN = [SCOPE_PLAY, "Plan the compute batches"]
PLAYBOOKS = ["plan", "preflight", "stage_release", "backup", "restore_databases",
             "upgrade_control_plane", "upgrade_computes", "upgrade_region", "verify", "rollback",
             "rollback_computes", "endpoint_switch", "api_probe", "rabbitmq_bridge_down"]
WHOLE_REGION = ["backup", "restore_databases", "upgrade_control_plane", "upgrade_region",
                "rollback", "endpoint_switch", "api_probe"]
CP = ["stackhop_controllers", "stackhop_controllers_new", "stackhop_network", "stackhop_db"]
# the control plane's upgrade also reaches the new side's database server (the database moves)
CP_DB_NEW = CP + ["stackhop_db_new"]
# Every play of the playbooks but the controller-side ones: the role groups it runs on.
PLAY_GROUPS = {
    "Check that the region's hosts answer (skipped when offline)":
        ["stackhop_controllers", "stackhop_controllers_new", "stackhop_computes"],
    "Pre-flight checks": ["stackhop_controllers", "stackhop_controllers_new", "stackhop_db", "stackhop_computes"],
    "Stage the target release's code": ["stackhop_controllers", "stackhop_controllers_new", "stackhop_computes"],
    "Stage the release of a fast-forward whose upgrade checks the pre-flight runs":
        ["stackhop_controllers", "stackhop_controllers_new"],
    "Stage every release of a fast-forward on the controller that migrates the backup's copies":
        ["stackhop_controllers", "stackhop_controllers_new"],
    "Tempest before the upgrade": ["stackhop_controllers", "stackhop_controllers_new"],
    "Back up the service databases, configs and state files": ["stackhop_db"],
    "Restore the service databases from a backup set": ["stackhop_db"],
    "Read where each component of the control plane runs": CP_DB_NEW,
    "Upgrade the control plane, component by component": CP_DB_NEW,
    "Finish": CP_DB_NEW,
    "Read what nova runs on the controllers": ["stackhop_controllers", "stackhop_controllers_new"],
    "Decide whether the computes move to a new RabbitMQ": ["stackhop_computes"],
    "Read the completed steps and print what remains": ["stackhop_computes"],
    "Upgrade the computes, batch by batch": ["stackhop_computes"],
    "Forget the step markers after a successful run and report": ["stackhop_computes"],
    "Verify the region": ["stackhop_controllers", "stackhop_controllers_new", "stackhop_computes"],
    "The data-plane probe's figures into the report (lab)": ["stackhop_controllers"],
    "Region done": ["stackhop_controllers", "stackhop_controllers_new", "stackhop_computes"],
    "Take the bridge between the old and the new RabbitMQ down": ["stackhop_rabbitmq"],
    "Decide whether the services move to a new RabbitMQ": ["stackhop_rabbitmq"],
    "Bridge the brokers while the services go back to the old RabbitMQ": ["stackhop_rabbitmq"],
    "The bridge to the new RabbitMQ down, every service back on the old one": ["stackhop_rabbitmq"],
    "Read the rollback's completed steps and what the computes run": ["stackhop_computes"],
    "Roll the computes back, batch by batch": ["stackhop_computes"],
    "Forget the rollback's step markers and report": ["stackhop_computes"],
    "Roll the control plane back to release N": CP,
}
SENTENCE = ("-e stackhop_region overrides every host's own region; select a region with "
            "-e stackhop_select_region=dc1.")


@pytest.fixture(scope="module")
def example():
    return load(EXAMPLE)


def record(tmp_path, playbook, inventory=EXAMPLE, limit=None, **extra):
    """Run the playbook; return (process, [(play, hosts)] of every play but the scope play)."""
    out = tmp_path / ("%s.jsonl" % playbook)
    out.unlink(missing_ok=True)
    extra_vars = {"stackhop_approval": "auto", "stackhop_plan_offline": True,
                  "stackhop_plan_dir": str(tmp_path / "plans")}
    extra_vars.update(extra)
    env = {"ANSIBLE_STRATEGY_PLUGINS": str(HERE / "plugins" / "strategy"),
           "ANSIBLE_STRATEGY": "record_hosts", "STACKHOP_RECORD_RUN": "|".join(RUN),
           "STACKHOP_RECORD_FILE": str(out), "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"}
    argv = [str(VENV / "bin" / "ansible-playbook"), str(REPO / "playbooks" / ("%s.yml" % playbook)),
            "-i", str(inventory), "-e", json.dumps(extra_vars)] + (["--limit", limit] if limit else [])
    proc = subprocess.run(argv, env=ansible_env(env), capture_output=True, text=True, timeout=300,
                          check=False, cwd=str(REPO))
    plays = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, [(p["play"], p["hosts"]) for p in plays if p["play"] != SCOPE_PLAY]


def expected(groups, play, selected):
    """The play's role groups' hosts among the selected ones, or localhost for a controller play."""
    if play not in PLAY_GROUPS:
        return ["localhost"]
    members = set(h for g in PLAY_GROUPS[play] for h in groups.get(g, []))
    return sorted(members & set(selected))


def region_hosts(groups, hostvars, region):
    return [h for h in groups["all"] if hostvars[h].get("stackhop_region") == region]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_region_selects_exactly_its_hosts(tmp_path, example, playbook):
    groups, hostvars = example
    proc, plays = record(tmp_path, playbook, stackhop_select_region="dc1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert plays, "no play recorded"
    dc1 = region_hosts(groups, hostvars, "dc1")
    for play, hosts in plays:
        assert play in PLAY_GROUPS or hosts == ["localhost"], play
        assert sorted(set(hosts)) == expected(groups, play, dc1), play


# Every playbook imports the same scope play first (test below), so the refusals and the
# lab's no-selector case are run on a sample: each run of ansible-playbook costs ~12 s.
SAMPLE = ["upgrade_region", "upgrade_computes", "rollback", "plan"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_imports_the_scope_play_first(playbook):
    plays = yaml.safe_load((REPO / "playbooks" / ("%s.yml" % playbook)).read_text())
    assert plays[0].get("ansible.builtin.import_playbook") == "_scope.yml", plays[0]


@pytest.mark.parametrize("playbook", SAMPLE)
def test_extra_var_region_is_refused(tmp_path, playbook):
    proc, plays = record(tmp_path, playbook, stackhop_region="dc1")
    assert proc.returncode != 0
    assert plays == [], "a play ran after the refusal"
    assert SENTENCE in " ".join(proc.stdout.split())


def test_extra_var_az_is_refused(tmp_path):
    proc, plays = record(tmp_path, "upgrade_computes", inventory=LAB, stackhop_az="az1")
    assert proc.returncode != 0 and plays == []
    assert ("-e stackhop_az overrides every host's own availability zone; select an AZ with "
            "-e stackhop_select_az=az1.") in " ".join(proc.stdout.split())


@pytest.mark.parametrize("playbook", ["upgrade_computes", "verify"])
def test_az_selects_that_azs_computes(tmp_path, example, playbook):
    groups, hostvars = example
    proc, plays = record(tmp_path, playbook, stackhop_select_region="dc1", stackhop_select_az="vxlan1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    selected = [h for h in region_hosts(groups, hostvars, "dc1")
                if h not in groups["stackhop_computes"] or h in groups["dc1_vxlan1"]]
    computes = 0
    for play, hosts in plays:
        assert sorted(set(hosts)) == expected(groups, play, selected), play
        computes += len(set(hosts) & set(groups["stackhop_computes"]))
    assert computes > 0
    if playbook == "upgrade_computes":
        # the batch plan holds exactly the AZ's computes
        batches = [p for p in plays if p[0] == "Upgrade the computes, batch by batch"]
        assert sorted(set(batches[0][1])) == sorted(groups["dc1_vxlan1"])


@pytest.mark.parametrize("playbook", ["upgrade_region", "rollback"])
def test_whole_region_playbooks_refuse_an_az(tmp_path, playbook):
    proc, plays = record(tmp_path, playbook, stackhop_select_region="dc1", stackhop_select_az="vlan1")
    assert proc.returncode != 0 and plays == []
    assert ("%s.yml acts on region dc1 as a whole: drop -e stackhop_select_az=vlan1" % playbook) \
        in " ".join(proc.stdout.split())


@pytest.mark.parametrize("playbook", SAMPLE)
def test_lab_without_selector_is_every_host(tmp_path, playbook):
    groups = load(LAB)[0]
    proc, plays = record(tmp_path, playbook, inventory=LAB)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for play, hosts in plays:
        assert sorted(set(hosts)) == expected(groups, play, groups["all"]), play


def test_several_regions_need_a_selector_and_limit_selects_one(tmp_path, example):
    groups, hostvars = example
    proc, plays = record(tmp_path, "stage_release")
    assert proc.returncode != 0 and plays == []
    assert ("The inventory has 2 regions (dc1, dc2): choose one with -e stackhop_select_region=NAME."
            in " ".join(proc.stdout.split()))
    # --limit to one region's hosts selects that region (the documented --limit REGION)
    proc, plays = record(tmp_path, "stage_release", limit="dc2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    # the staging play, then the fast-forward's first hop and its every release on the controllers
    # (plays that skip their task here)
    dc2 = region_hosts(groups, hostvars, "dc2")
    dc2_controllers = sorted(set(dc2) & set(groups["stackhop_controllers"] + groups.get("stackhop_controllers_new", [])))
    assert [sorted(hosts) for _play, hosts in plays] == [sorted(dc2), dc2_controllers, dc2_controllers]
    proc, plays = record(tmp_path, "stage_release", limit="dc1_vlan1:dc2_vlan1")
    assert proc.returncode != 0 and plays == []
    assert "The hosts of --limit are in 2 regions (dc1, dc2)" in " ".join(proc.stdout.split())


@pytest.mark.parametrize("region,first", [("dc1", "ctl1.dc1.example.com"), ("dc2", "ctl1.dc2.example.com")])
def test_roles_pick_the_first_host_in_scope(tmp_path, region, first):
    out = tmp_path / "defaults.json"
    proc = run_playbook(HERE / "playbooks" / "role_defaults.yml", inventory=EXAMPLE,
                        extra_vars={"stackhop_select_region": region, "role_defaults_file": str(out)},
                        extra_env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    picked = json.loads(out.read_text())
    new = first.replace("ctl1", "ctl2")
    assert picked["control_plane_old_hosts"] == [first] == picked["rollback_old_hosts"]
    assert picked["control_plane_new_hosts"] == [new]
    assert picked["control_plane_db_host"] == first == picked["rollback_db_host"]
    assert (picked["endpoint_switch_from"], picked["endpoint_switch_to"]) == (first, new)
    assert picked["nova_compute_api_host"] == first
    assert picked["verify_server_host"].endswith(".%s.example.com" % region)


def test_scope_play_sentinel_is_the_filters():
    from ansible_collections.stackhop.upgrade.plugins.filter.scope import SENTINEL
    (play,) = yaml.safe_load((REPO / "playbooks" / "_scope.yml").read_text())
    assert {play["vars"][k] for k in ("stackhop_region", "stackhop_az", "stackhop_aggregate")} == {SENTINEL}
    assert re.search(r"tags: \[always\]", (REPO / "playbooks" / "_scope.yml").read_text())


# --- A keystone several regions share (issue 22 part 3) ---------------------------------
# The example inventory's keystone1/keystone2.global and their load balancer lb1.global are
# in no region: upgrade_keystone.yml selects them alone, as the run's controllers, database
# server and load balancers; a region's run leaves keystone out of its components.
KEYSTONE_TIER = ["keystone1.global.example.com", "keystone2.global.example.com", "lb1.global.example.com"]


def run_settings(tmp_path, **extra):
    out = tmp_path / "settings.json"
    proc = run_playbook(HERE / "playbooks" / "run_settings.yml", inventory=EXAMPLE,
                        extra_vars=dict(extra, run_settings_file=str(out)),
                        extra_env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.timer"}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_the_keystone_tier_is_the_shared_keystone_as_the_runs_control_plane(tmp_path):
    settings = run_settings(tmp_path, stackhop_scope_tier="keystone", stackhop_scope_upgrade_id_default=True)
    assert sorted(settings) == KEYSTONE_TIER
    ks1, ks2, lb1 = KEYSTONE_TIER
    assert settings[ks1]["groups"] == ["stackhop_controllers", "stackhop_db", "stackhop_keystone"]
    assert settings[ks2]["groups"] == ["stackhop_controllers", "stackhop_keystone"]
    assert settings[lb1]["groups"] == ["stackhop_keystone_lb", "stackhop_lb"]
    for host in (ks1, ks2):
        seen = settings[host]
        assert seen["components"] == ["keystone"] and seen["strategy"] == "rolling"
        assert (seen["old_hosts"], seen["db_host"], seen["lb_hosts"]) == ([ks1, ks2], ks1, [lb1])
        assert seen["upgrade_id"] == "keystone-2024.1-to-2025.1"


def test_a_region_leaves_the_keystone_it_shares_out_of_its_components(tmp_path, example):
    groups, hostvars = example
    settings = run_settings(tmp_path, stackhop_select_region="dc1")
    assert sorted(settings) == sorted(region_hosts(groups, hostvars, "dc1"))
    controller = settings["ctl1.dc1.example.com"]
    assert controller["components"] == ["glance", "placement", "nova", "neutron", "cinder"]
    assert controller["strategy"] == "blue_green" and controller["old_hosts"] == ["ctl1.dc1.example.com"]


def test_upgrade_keystone_touches_the_shared_keystone_only(tmp_path):
    proc, plays = record(tmp_path, "upgrade_keystone", stackhop_scope_tier="keystone")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert plays, "no play recorded"
    touched = set(h for _play, hosts in plays for h in hosts)
    assert touched <= set(KEYSTONE_TIER + ["localhost"]), touched
    control_plane = [hosts for play, hosts in plays if play == "Upgrade the control plane, component by component"]
    assert [sorted(set(h)) for h in control_plane] == [KEYSTONE_TIER[:2]]


def test_upgrade_keystone_refuses_a_region(tmp_path):
    proc, plays = record(tmp_path, "upgrade_keystone", stackhop_select_region="dc1")
    assert proc.returncode != 0 and plays == []
    assert "The shared keystone is in no region: drop -e stackhop_select_region" in " ".join(proc.stdout.split())


def test_upgrade_keystone_imports_the_scope_play_first():
    test_every_playbook_imports_the_scope_play_first("upgrade_keystone")
