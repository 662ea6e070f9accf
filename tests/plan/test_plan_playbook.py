"""playbooks/plan.yml run through ansible-playbook, offline, on the lab and example inventories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lib.ansible_runner import REPO, run_playbook

PLAYBOOK = REPO / "playbooks" / "plan.yml"
LAB = REPO / "lab" / "inventory"
EXAMPLE = REPO / "inventories" / "example"


def plan(tmp_path, current, target, inventory=LAB, **extra):
    extra_vars = {"stackhop_plan_offline": True, "stackhop_plan_dir": str(tmp_path),
                  "stackhop_current_release": current, "stackhop_target_release": target}
    extra_vars.update(extra)
    proc = run_playbook(PLAYBOOK, extra_vars=extra_vars, inventory=inventory, timeout=300)
    files = sorted(Path(tmp_path).glob("plan-*"))
    data = md = None
    for f in files:
        if f.suffix == ".json":
            data = json.loads(f.read_text())
        elif f.suffix == ".md":
            md = f.read_text()
    return proc, data, md


def steps(data, component):
    comp = [c for c in data["components"] if c["component"] == component][0]
    return [s["text"] for s in comp["steps"]]


def test_2024_1_to_2025_1_direct_slurp(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert data["mode"] == "slurp" and data["offline"] is True
    assert [r["number"] for r in data["path"]["migrations"]] == ["2025.1"]
    assert [r["number"] for r in data["path"]["skipped"]] == ["2024.2"]
    assert "SLURP -> next SLURP" in md
    assert [c["component"] for c in data["components"]] == [
        "keystone", "glance", "placement", "nova", "neutron", "cinder"]
    nova = [c for c in data["components"] if c["component"] == "nova"][0]
    assert (nova["from_version"], nova["to_version"]) == ("29", "31")
    assert nova["pip_spec"] == "nova==31.*"
    assert data["install"]["exclude_newer"] == "2025-06-01"
    quirks = [q["id"] for q in data["quirks"]]
    # nova accepts 2024.1 computes from 2025.1 control services (previous SLURP)
    assert "nova_too_old_compute" not in quirks and "rabbitmq_no_double_jump" in quirks
    # components absent from the lab (ironic) bring no quirks
    assert "ironic_instance_host" not in quirks
    nova_steps = steps(data, "nova")
    assert nova_steps[0].startswith("stop nova") and "switch the nova endpoint" in nova_steps[-3] \
        or any("switch the nova endpoint" in s for s in nova_steps)
    for word in ("stop", "dump", "nova-manage db sync", "start", "smoke test", "switch",
                 "stop and disable", "conductor and scheduler records"):
        assert any(word in s for s in nova_steps), word
    # only what the executor runs: the database server stays, nothing loads a dump
    assert not any("load the dump" in s for s in nova_steps)
    phases = [s["action"] for c in data["components"] if c["component"] == "nova" for s in c["steps"]]
    assert [p for i, p in enumerate(phases) if p != "quirk" and p not in phases[:i]] == [
        "prepare", "stop", "backup", "migrate", "deploy", "smoke", "switch", "converge", "retire", "cleanup"]
    # computes: one batch per AZ, canary first
    azs = {a["az"]: a for a in data["compute_batches"]}
    assert set(azs) == {"az1", "az2"}
    assert azs["az1"]["batches"][0] == {"canary": True, "hosts": ["cmp1"], "number": 1}
    assert azs["az2"]["batches"][0]["hosts"] == ["cmp2"]
    ids = [c["id"] for c in data["preflight"]]
    assert {"db_grants", "upgrade_check", "schema_revisions", "free_disk"} <= set(ids)
    # the printed plan is the Markdown tree
    assert "Upgrade plan for region RegionOne: 2024.1 (caracal) -> 2025.1 (epoxy)" in proc.stdout


@pytest.mark.parametrize("strategy,agents", [("blue_green", True), ("in_place", False)])
def test_the_agents_step_follows_where_the_network_node_is(tmp_path, strategy, agents):
    """The lab's network node is ctl-old: blue-green leaves its agents behind (a step of
    their own after the server moved), in place they move with its deploy step."""
    proc, data, _md = plan(tmp_path, "2024.1", "2025.1", stackhop_control_plane_strategy=strategy)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    neutron = [c for c in data["components"] if c["component"] == "neutron"][0]
    assert any(s["action"] == "agents" for s in neutron["steps"]) is agents


def test_2024_2_to_2025_1_direct(tmp_path):
    proc, data, md = plan(tmp_path, "2024.2", "2025.1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["mode"] == "direct"
    assert "N -> N+1" in md
    assert "nova_too_old_compute" not in [q["id"] for q in data["quirks"]]


def test_2023_1_to_2025_2_fast_forward(tmp_path):
    proc, data, md = plan(tmp_path, "2023.1", "2025.2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["mode"] == "fast_forward"
    every = ["2023.2", "2024.1", "2024.2", "2025.1", "2025.2"]
    assert [r["number"] for r in data["path"]["migrations"]] == every
    for number in every:
        assert "migrations of %s" % number in md
    # each intermediate release's nova migrations, in order
    nova_sync = [s for s in steps(data, "nova") if s.startswith("nova-manage db sync")]
    assert [s.split("nova ")[-1].rstrip(" code)") for s in nova_sync] == [
        "28", "29", "30", "31", "32"]
    assert [v["release"] for v in data["install"]["per_release"]] == every
    quirks = [q["id"] for q in data["quirks"]]
    assert "nova_online_migrations_each_release" in quirks
    assert "keystone_wsgi_module" in quirks
    assert "nova_too_old_compute" in quirks


def test_kilo_to_mitaka_two_hops_ovs_quirks(tmp_path):
    proc, data, md = plan(tmp_path, "kilo", "mitaka",
                          stackhop_components=["keystone", "glance", "nova", "neutron"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert len(data["path"]["hops"]) == 2
    assert [h["to"]["codename"] for h in data["path"]["hops"]] == ["liberty", "mitaka"]
    for quirk in ("ovs_other_config", "conntrack_zone_pin", "fail_mode_secure"):
        assert quirk in data["compute_quirks"]
        assert "stackhop.upgrade.%s" % quirk in md
    assert "nova_api_db" in [q["id"] for q in data["quirks"]]
    # kilo's nova has no api database: only mitaka's migrations run api_db sync
    api = [s for s in steps(data, "nova") if "api_db sync" in s]
    assert len(api) == 1 and "nova 13" in api[0]


def test_newton_to_ocata_cells_v2(tmp_path):
    proc, data, md = plan(tmp_path, "newton", "ocata")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["mode"] == "direct"
    quirks = {q["id"]: q for q in data["quirks"]}
    assert quirks["nova_cells_v2"]["handled_by"] == "stackhop.upgrade.nova_cell_v2"
    assert "placement_api_mandatory" in quirks
    # the lab region runs cinder: ocata's volumev3 endpoint is part of its plan
    assert quirks["cinder_v3_endpoint"]["handled_by"] == "roles/endpoint_switch"
    nova = steps(data, "nova")
    cells = [i for i, s in enumerate(nova) if "map_cell0" in s][0]
    sync = [i for i, s in enumerate(nova) if s.startswith("nova-manage db sync")][0]
    assert cells < sync
    # placement was part of nova before stein: no separate component step
    assert "placement" not in [c["component"] for c in data["components"]]


@pytest.mark.parametrize("current,target,words", [
    ("2025.1", "2024.1", ["downgrade", "rollback"]),
    ("2024.1", "2024.1", ["nothing to upgrade"]),
    ("2024.1", "juno", ["Unknown OpenStack release"]),
])
def test_refused(tmp_path, current, target, words):
    proc, data, md = plan(tmp_path, current, target)
    assert proc.returncode != 0
    assert data is None and md is None
    for word in words:
        assert word in proc.stdout


def test_example_two_regions_one_az(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", inventory=EXAMPLE,
                          stackhop_plan_region="dc2", stackhop_plan_az="vlan1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["region"] == "dc2" and data["az"] == "vlan1"
    (az,) = data["compute_batches"]
    assert az["hosts"] == 8
    # dc2 sets 50 %: canary, then batches of 4
    assert [len(b["hosts"]) for b in az["batches"]] == [1, 4, 3]
    assert "cinder_volume_host" in [q["id"] for q in data["quirks"]]


def test_example_needs_a_region(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", inventory=EXAMPLE)
    assert proc.returncode != 0
    assert ("The inventory has 2 regions (dc1, dc2): choose one with -e stackhop_select_region=NAME."
            in " ".join(proc.stdout.split()))


def test_example_new_selector_names(tmp_path):
    # stackhop_select_region/az are the names every playbook reads; stackhop_plan_* stay aliases
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", inventory=EXAMPLE,
                          stackhop_select_region="dc1", stackhop_select_az="vxlan1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert data["region"] == "dc1" and data["az"] == "vxlan1"
    (az,) = data["compute_batches"]
    assert az["hosts"] == 2
    assert (tmp_path / "plan-dc1-vxlan1-2024.1-2025.1.json").exists()


def test_example_extra_var_region_refused(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", inventory=EXAMPLE, stackhop_region="dc1")
    assert proc.returncode != 0 and data is None
    assert ("-e stackhop_region overrides every host's own region; select a region with "
            "-e stackhop_select_region=dc1.") in " ".join(proc.stdout.split())


def test_unknown_region_refused(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", inventory=EXAMPLE,
                          stackhop_plan_region="nowhere")
    assert proc.returncode != 0 and data is None
    assert "Region nowhere is not in the inventory: use one of dc1, dc2" in " ".join(
        proc.stdout.split())


def test_online_plan_lists_hosts_that_do_not_answer(tmp_path):
    # Not offline: the first play pings the region's hosts. 192.0.2.0/24 (TEST-NET-1)
    # never answers, so every host is listed as unreachable and the plan is still written.
    extra_vars = {"stackhop_plan_dir": str(tmp_path), "ansible_host": "192.0.2.1",
                  "ansible_ssh_common_args": "-o ConnectTimeout=3"}
    proc = run_playbook(PLAYBOOK, extra_vars=extra_vars, inventory=LAB, timeout=300,
                        extra_env={"ANSIBLE_TIMEOUT": "3"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    (json_file,) = Path(tmp_path).glob("plan-*.json")
    data = json.loads(json_file.read_text())
    assert data["offline"] is False
    assert sorted(data["unreachable"]) == ["cmp1", "cmp2", "ctl-new", "ctl-old"]
    (md_file,) = Path(tmp_path).glob("plan-*.md")
    assert "Unreachable now:" in md_file.read_text()


def test_nova_archive_settings_reach_the_plan(tmp_path):
    """The plan prints the archive the nova_controller role runs, with its settings."""
    proc, data, md = plan(tmp_path / "on", "2024.1", "2025.1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    nova_steps = steps(data, "nova")
    odm = [i for i, s in enumerate(nova_steps) if "online_data_migrations" in s]
    assert nova_steps[odm[0] - 1] == (
        "nova-manage db archive_deleted_rows --verbose --max_rows 1000 --until-complete "
        "(nova 31 code, stackhop.upgrade.nova_archive_deleted_rows)")
    assert "archive_deleted_rows" in md
    proc, data, md = plan(tmp_path / "purge", "2024.1", "2025.1",
                          nova_controller_archive_purge=True,
                          nova_controller_archive_max_rows=500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert any(s.startswith("nova-manage db archive_deleted_rows --verbose --max_rows 500 ")
               for s in steps(data, "nova"))
    assert any(s.startswith("nova-manage db purge --verbose --all ") for s in steps(data, "nova"))
    proc, data, md = plan(tmp_path / "off", "2024.1", "2025.1",
                          nova_controller_archive_deleted_rows=False)
    assert proc.returncode == 0
    assert not any("archive" in s for s in steps(data, "nova"))


def test_config_change_lines_per_host_and_file():
    from ansible_collections.stackhop.upgrade.plugins.modules.upgrade_plan import config_change_lines
    checks = {"ctl-old": [
        {"item": {"component": "nova"}, "target": "2025.1", "files": [
            {"path": "/etc/nova/nova.conf",
             "renamed": [{"from": "DEFAULT/osapi_max_limit", "to": "api/max_limit", "release": "2024.2"}],
             "unknown": [{"section": "DEFAULT", "option": "use_neutron", "removed_in": "2024.2"}],
             "edits": [{"kind": "rename", "section": "api", "option": "max_limit", "reason": "renamed"},
                       {"kind": "removed_value", "section": "filter_scheduler", "option": "enabled_filters",
                        "reason": "nova 2023.2 removed AvailabilityZoneFilter"}]},
            {"path": "/etc/nova/cells.conf", "renamed": [], "unknown": []}]},
        {"item": {"component": "cinder"}, "skipped": True},
        {"item": {"component": "glance"}, "failed": True, "msg": "no python."}]}
    assert config_change_lines(checks) == [
        "ctl-old /etc/nova/nova.conf -> 2025.1: DEFAULT/osapi_max_limit -> api/max_limit (2024.2); "
        "DEFAULT/use_neutron no longer declared (removed in 2024.2); "
        "filter_scheduler/enabled_filters: nova 2023.2 removed AvailabilityZoneFilter",
        "ctl-old /etc/nova/cells.conf -> 2025.1: nothing changes",
        "ctl-old, cinder: not checked (the target release's code is not on the host yet)",
        "ctl-old, glance: not checked (no python)"]


# --- the compute phase's estimated duration (issue 21 part 4) --------------------------

def test_lab_plan_estimates_the_compute_phase_from_the_measured_model(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    est = data["compute_estimate"]
    assert [(a["az"], a["hosts"], a["batches"], a["seconds"]) for a in est["azs"]] == [
        ("az1", 1, 1, 84.5), ("az2", 1, 1, 84.5)]
    assert est["total_s"] == 174.4 and est["model"]["source"].startswith("2-compute lab")
    assert "- Compute phase, estimated: 2 min 54 s (2 hosts in 2 batches" in md
    assert "    - AZ az1: 1 min 24 s (1 hosts, 1 batches)" in md
    assert "Compute phase, estimated: 2 min 54 s" in proc.stdout


def fleet_inventory_dir(tmp_path, computes):
    """A fleet's inventory as scripts/lab-up.sh --computes writes it, with the lab's group_vars."""
    import yaml
    from lab.labctl import fleet_inventory
    inv = tmp_path / "inventory"
    inv.mkdir()
    data = fleet_inventory(yaml.safe_load((LAB / "hosts.yml").read_text()), computes)
    (inv / "hosts.yml").write_text(yaml.safe_dump(data))
    (inv / "group_vars").symlink_to(LAB / "group_vars")
    return inv


def test_thirty_two_computes_with_the_inventorys_model_and_pause(tmp_path):
    """The 32-compute rehearsal's plan: 4 AZs of 8, each a canary and batches of 2 (25 %),
    a model the inventory gives (as the rehearsal fits it) and NHN's pause between batches."""
    model = {"fixed_s": 20, "per_batch_s": 60, "per_host_s": 5, "source": "fleet rehearsal fit"}
    proc, data, md = plan(tmp_path / "out", "2024.1", "2025.1", inventory=fleet_inventory_dir(tmp_path, 32),
                          stackhop_compute_cost_model=model, stackhop_compute_batch_pause=30,
                          stackhop_compute_batch_percent=25)
    assert proc.returncode == 0, proc.stdout[-3000:]
    est = data["compute_estimate"]
    assert [(a["hosts"], a["batches"]) for a in est["azs"]] == [(8, 5)] * 4
    # 20 batches, a pause after 19 of them
    assert est["total_s"] == 20 + 20 * 60 + 32 * 5 + 19 * 30
    assert est["model"]["source"] == "fleet rehearsal fit"
    assert "model: 20 s + 60 s per batch + 5 s per host, a pause of 30 s after every batch but the last; " \
           "from fleet rehearsal fit" in md


def test_a_bad_cost_model_is_refused(tmp_path):
    proc, data, md = plan(tmp_path, "2024.1", "2025.1", stackhop_compute_cost_model={"per_host_s": -2})
    assert proc.returncode != 0 and data is None
    assert "stackhop_compute_cost_model.per_host_s is -2.0: set it to a number of seconds, 0 or more." \
        in proc.stdout
