"""The release model and the hop planner, over every pair of releases."""

from __future__ import annotations

import itertools
import re

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm

NAMES = rm.release_names()
PAIRS = list(itertools.product(NAMES, NAMES))


def test_every_release_kilo_to_2026_2():
    assert NAMES[0] == "kilo" and NAMES[-1] == "hibiscus"
    assert len(NAMES) == 24
    numbers = [r["number"] for r in rm.RELEASES]
    assert numbers[0] == "2015.1" and numbers[-1] == "2026.2"
    assert numbers == sorted(numbers)
    assert [r["released"] for r in rm.RELEASES] == sorted(r["released"] for r in rm.RELEASES)


def test_slurp_flags_follow_the_governance_resolution():
    # 2023.1 is the first SLURP release; every .1 since is one, nothing else is.
    slurp = [r["number"] for r in rm.RELEASES if r["slurp"]]
    assert slurp == ["2023.1", "2024.1", "2025.1", "2026.1"]


@pytest.mark.parametrize("release,component,version", [
    ("2023.1", "nova", "27"), ("2023.2", "nova", "28"), ("2024.1", "nova", "29"),
    ("2024.2", "nova", "30"), ("2025.1", "nova", "31"), ("2025.2", "nova", "32"),
    ("2026.1", "nova", "33"),
    ("2024.1", "keystone", "25"), ("2025.1", "keystone", "27"),
    ("2024.1", "neutron", "24"), ("2025.1", "neutron", "26"),
    ("2024.1", "glance", "28"), ("2025.1", "glance", "30"),
    ("2024.1", "placement", "11"), ("2025.1", "placement", "13"),
    ("2024.1", "cinder", "24"), ("2024.1", "ironic", "24.1"),
    ("mitaka", "nova", "13"), ("ocata", "nova", "15"), ("ocata", "keystone", "11"),
    ("ocata", "placement", None), ("stein", "placement", "1"),
])
def test_service_versions(release, component, version):
    assert rm.service_version(release, component) == version


def test_versions_increase_release_by_release():
    for comp in rm.COMPONENTS:
        seen = [r["versions"][comp] for r in rm.RELEASES[1:] if r["versions"][comp]]
        as_tuples = [tuple(int(x) for x in v.split(".")) for v in seen]
        assert as_tuples == sorted(as_tuples), comp
        assert len(set(as_tuples)) == len(as_tuples), comp


def test_release_pins_come_with_the_release():
    """2024.1 needs netaddr<1 beyond its date; releases without pins have none."""
    assert rm.get_release("2024.1")["pip_pins"] == ["netaddr<1"]
    assert rm.get_release("2025.1")["pip_pins"] == []
    assert all(isinstance(r["pip_pins"], list) for r in rm.RELEASES)
    # a fast-forward through 2024.1 installs its venv with the pin
    plan = rm.build_plan("2023.2", "2025.1", "r", [])
    per = {i["release"]: i for i in plan["install"]["per_release"]}
    assert per["2024.1"]["pip_pins"] == ["netaddr<1"]
    assert "'netaddr<1'" in [ln for ln in rm.plan_markdown(plan).splitlines()
                             if "venv 2024.1" in ln][0]


def test_lab_pip_specs_and_dates():
    caracal = rm.get_release("2024.1")
    assert caracal["exclude_newer"] == "2024-06-01"
    assert caracal["pip_specs"]["nova"] == "nova==29.*"
    assert caracal["pip_specs"]["placement"] == "openstack-placement==11.*"
    epoxy = rm.get_release("epoxy")
    assert epoxy["exclude_newer"] == "2025-06-01"
    assert epoxy["pip_specs"]["keystone"] == "keystone==27.*"


def test_release_of_version():
    assert rm.release_of_version("nova", "29.2.0")["codename"] == "caracal"
    assert rm.release_of_version("ironic", "24.1.3")["codename"] == "caracal"
    with pytest.raises(rm.ReleaseModelError):
        rm.release_of_version("nova", "99")


def test_names_are_case_insensitive():
    assert rm.get_release("Caracal") is rm.get_release("2024.1")


def test_quirks_are_complete_and_sourced():
    for quirk in rm.QUIRKS:
        for key in ("id", "component", "phase", "description", "source", "handled_by"):
            assert quirk[key], (quirk["id"], key)
        assert quirk["phase"] in ("preflight", "control_plane", "compute")
        assert re.match(r"^(stackhop\.upgrade\.\w+|roles/|plan$)", quirk["handled_by"])
    ids = {q["id"] for q in rm.QUIRKS}
    for needed in ("ovs_other_config", "conntrack_zone_pin", "fail_mode_secure",
                   "nova_api_db", "nova_cells_v2", "nova_v21_endpoint",
                   "cinder_v3_endpoint", "nova_neutron_domain_options",
                   "glance_v1_removed", "keystone_v2_api_removed",
                   "keystone_wsgi_module", "nova_too_old_compute",
                   "rabbitmq_no_double_jump"):
        assert needed in ids


def _expected_mode(cur, tgt):
    if tgt["index"] == cur["index"] + 1:
        return "direct"
    if cur["slurp"] and tgt["slurp"] and tgt["index"] == cur["index"] + 2:
        return "slurp"
    return "fast_forward"


@pytest.mark.parametrize("current,target", PAIRS)
def test_every_pair(current, target):
    cur, tgt = rm.get_release(current), rm.get_release(target)
    if tgt["index"] <= cur["index"]:
        with pytest.raises(rm.ReleaseModelError) as err:
            rm.upgrade_path(current, target)
        msg = str(err.value)
        assert msg.count(". ") == 0 and msg.endswith(".")      # one sentence
        assert cur["number"] in msg
        if tgt["index"] < cur["index"]:
            assert "downgrade" in msg and "rollback" in msg
        else:
            assert "nothing to upgrade" in msg
        return
    path = rm.upgrade_path(current, target)
    assert path["mode"] == _expected_mode(cur, tgt)
    released = [r["codename"] for r in path["releases"]]
    assert released == NAMES[cur["index"]:tgt["index"] + 1]
    migrations = [r["codename"] for r in path["migrations"]]
    assert migrations[-1] == target
    if path["mode"] == "fast_forward":
        # every intermediate release's migrations, in order
        assert migrations == released[1:]
    elif path["mode"] == "slurp":
        assert migrations == [target]
        assert [r["codename"] for r in path["skipped"]] == released[1:-1]
    hops = path["hops"]
    assert hops[0]["from"]["codename"] == current
    assert hops[-1]["to"]["codename"] == target
    for a, b in zip(hops, hops[1:]):
        assert a["to"] == b["from"]
    # quirks: only those whose release lies on the path
    for quirk in rm.applicable_quirks(current, target):
        if quirk["into"]:
            assert quirk["into"] in released[1:]


@pytest.mark.parametrize("bad", ["juno", "2027.1", "", "latest", "2024.3"])
def test_unknown_release(bad):
    with pytest.raises(rm.ReleaseModelError, match="Unknown OpenStack release"):
        rm.upgrade_path(bad, "2025.1")
    with pytest.raises(rm.ReleaseModelError, match="Unknown OpenStack release"):
        rm.upgrade_path("2024.1", bad)


def test_named_paths():
    assert rm.upgrade_path("2024.1", "2025.1")["mode"] == "slurp"
    assert rm.upgrade_path("2024.2", "2025.1")["mode"] == "direct"
    assert rm.upgrade_path("2023.1", "2024.1")["mode"] == "slurp"
    # two SLURP steps are not one skip: fast-forward through everything
    ffu = rm.upgrade_path("2023.1", "2025.2")
    assert ffu["mode"] == "fast_forward"
    assert [r["number"] for r in ffu["migrations"]] == [
        "2023.2", "2024.1", "2024.2", "2025.1", "2025.2"]
    nhn = rm.upgrade_path("kilo", "queens")
    assert [r["codename"] for r in nhn["migrations"]] == [
        "liberty", "mitaka", "newton", "ocata", "pike", "queens"]
    dena = rm.upgrade_path("kilo", "mitaka")
    assert len(dena["hops"]) == 2


def test_quirks_of_known_hops():
    def ids(a, b, **kw):
        return [q["id"] for q in rm.applicable_quirks(a, b, **kw)]

    kilo_mitaka = ids("kilo", "mitaka")
    for q in ("ovs_other_config", "conntrack_zone_pin", "fail_mode_secure", "nova_api_db"):
        assert q in kilo_mitaka
    assert "ovs_other_config" not in ids("liberty", "mitaka")
    assert "nova_cells_v2" in ids("newton", "ocata")
    assert "nova_cells_v2" in ids("mitaka", "ocata")
    assert "nova_cells_v2" not in ids("ocata", "pike")
    # SLURP jumps are supported by nova without the workaround; beyond them it is needed
    assert "nova_too_old_compute" not in ids("2024.1", "2025.1")
    assert "nova_too_old_compute" not in ids("2024.2", "2025.1")
    assert "nova_too_old_compute" in ids("2023.1", "2025.2")
    assert "nova_too_old_compute" in ids("2024.1", "2025.2")
    assert "nova_too_old_compute" not in ids("2025.1", "2026.1")
    assert "nova_too_old_compute" not in ids("kilo", "mitaka")
    assert "cinder_volume_host" in ids("2024.2", "2025.1", strategy="blue_green")
    assert "cinder_volume_host" not in ids("2024.2", "2025.1", strategy="in_place")
    assert "cinder_volume_host" not in ids("2024.2", "2025.1", components=["nova"])


def test_compute_batches_canary_first_smallest_az_first():
    hosts = [{"name": "c%02d" % i, "az": "big" if i < 8 else "small",
              "aggregate": "rack%d" % (i % 2)} for i in range(10)]
    batches = rm.compute_batches(hosts, canary_size=1, batch_percent=50)
    assert [a["az"] for a in batches] == ["small", "big"]
    big = batches[1]
    assert big["batches"][0]["canary"] and len(big["batches"][0]["hosts"]) == 1
    assert sum(len(b["hosts"]) for b in big["batches"]) == 8
    assert all(len(b["hosts"]) <= 4 for b in big["batches"])
    assert rm.compute_batches(hosts, az_order=["big"])[0]["az"] == "big"
    with pytest.raises(rm.ReleaseModelError, match="stackhop_az_order"):
        rm.compute_batches(hosts, az_order=["nowhere"])
    with pytest.raises(rm.ReleaseModelError, match="canary"):
        rm.compute_batches(hosts, canary_size=0)


def test_plan_refuses_bad_settings():
    with pytest.raises(rm.ReleaseModelError, match="stackhop_control_plane_strategy"):
        rm.build_plan("2024.1", "2025.1", "r", [], strategy="canary")
    with pytest.raises(rm.ReleaseModelError, match="rolling keeps"):
        rm.build_plan("2023.1", "2025.1", "r", [], strategy="rolling")
    with pytest.raises(rm.ReleaseModelError, match="stackhop_component_order"):
        rm.build_plan("2024.1", "2025.1", "r", [], component_order=["swift"])
    with pytest.raises(rm.ReleaseModelError, match="availability zone"):
        rm.build_plan("2024.1", "2025.1", "r", [{"name": "a", "az": "az1"}], az="az9")


def test_plan_warns_on_nova_before_cinder_across_queens():
    plan = rm.build_plan("pike", "queens", "r", [],
                         component_order=["keystone", "nova", "cinder"])
    assert any("cinder before nova" in w for w in plan["warnings"])


def test_version_drift_and_table():
    from ansible_collections.stackhop.upgrade.plugins.filter.preflight import (
        preflight_table, version_drift)
    drift = version_drift({"cmp1": {"nova": "29.2.0", "pip": "1"},
                           "cmp2": {"nova": "29.1.0", "pip": "1"}, "cmp3": {"pip": "1"}})
    assert drift == [{"package": "nova", "versions": {
        "29.2.0": ["cmp1"], "29.1.0": ["cmp2"], "absent": ["cmp3"]}}]
    assert version_drift({"a": {"x": "1"}, "b": {"x": "1"}}) == []
    table = preflight_table([
        {"check": "free_disk", "host": "db1", "status": "ok", "message": "fine"},
        {"check": "db_grants", "host": "ctl", "status": "failure", "message": "grant it"}])
    lines = table.splitlines()
    assert lines[0].split() == ["STATUS", "CHECK", "HOST", "DETAIL"]
    assert lines[2].startswith("FAILURE") and lines[-1] == "1 failure, 1 ok"


@pytest.mark.parametrize("current,target", [p for p in PAIRS if
                                            rm.get_release(p[0])["index"] <
                                            rm.get_release(p[1])["index"]])
def test_old_compute_rule(current, target):
    # N -> N+1 and SLURP -> next SLURP never need nova's FFU workaround (from 2023.1 on)
    mode = rm.upgrade_path(current, target)["mode"]
    if mode in ("direct", "slurp") and rm.get_release(current)["number"] >= "2023.1":
        assert not rm.computes_too_old(current, target)
    if mode == "fast_forward" and rm.get_release(current)["number"] >= "2023.1" \
            and rm.get_release(target)["index"] - rm.get_release(current)["index"] > 2:
        assert rm.computes_too_old(current, target)


@pytest.mark.parametrize("strategy", ["blue_green", "in_place"])
def test_component_steps_are_the_executors_phases(strategy):
    """Each step's action is a phase the control plane's executor runs and the report
    records, in the executor's order; nothing the executor does not run (no dump load)."""
    path = rm.upgrade_path("2024.1", "2025.1")
    for comp in rm.COMPONENTS:
        actions = [s["action"] for s in rm.component_steps(comp, path, strategy, [])]
        phases = [a for i, a in enumerate(actions) if a not in actions[:i]]
        assert set(phases) <= set(rm.CONTROL_PLANE_PHASES), (comp, phases)
        assert phases == sorted(phases, key=rm.CONTROL_PLANE_PHASES.index), (comp, phases)
        assert phases == rm.control_plane_phases(comp, "2024.1", "2025.1", strategy)
        # blue-green writes the new node's configs and units first, while the old one serves
        first = ["prepare"] if strategy == "blue_green" else []
        assert phases[:4 - (not first)] == first + ["stop", "backup", "migrate"] and "deploy" in phases
        assert "smoke" in phases


def test_control_plane_phases_by_strategy():
    bg = {c: rm.control_plane_phases(c, "2024.1", "2025.1", "blue_green") for c in rm.COMPONENTS}
    ip = {c: rm.control_plane_phases(c, "2025.1", "2025.2", "in_place") for c in rm.COMPONENTS}
    # keystone's keys and glance's images move with a blue-green move (the plan listed
    # glance's only; the executor copied both)
    assert "copy_state" in bg["keystone"] and "copy_state" in bg["glance"]
    assert "copy_state" not in bg["nova"] and not any("copy_state" in p for p in ip.values())
    assert bg["nova"][-4:] == ["switch", "converge", "retire", "cleanup"] and ip["nova"][-1] == "smoke"
    assert all(p[0] == "prepare" for p in bg.values()) and not any("prepare" in p or "converge" in p for p in ip.values())
    assert bg["neutron"][-1] == "agents" and ip["neutron"][-1] == "agents"
    assert ip["keystone"][-1] == "cleanup" and ip["cinder"][-1] == "cleanup"
    assert not any("switch" in p or "retire" in p for p in ip.values())
    with pytest.raises(rm.ReleaseModelError, match="use blue_green, in_place or rolling"):
        rm.control_plane_phases("nova", "2024.1", "2025.1", "canary")


def test_the_agents_step_only_for_a_network_node_apart_from_the_deployed_controllers():
    """A controller that is also the network node has its agents upgraded by its deploy
    step (neutron_controller with the network node's agents): no agents step of its own."""
    apart = rm.network_nodes_apart
    assert apart("in_place", None) is True                     # inventory unknown: keep it
    assert apart("in_place", ["ctl-old"], ["ctl-old"], ["ctl-new"]) is False
    assert apart("blue_green", ["ctl-old"], ["ctl-old"], ["ctl-new"]) is True
    assert apart("blue_green", ["ctl-new"], ["ctl-old"], ["ctl-new"]) is False
    assert apart("rolling", ["net1"], ["ctl1", "ctl2", "ctl3"], []) is True
    assert apart("rolling", ["ctl1", "ctl2"], ["ctl1", "ctl2", "ctl3"], []) is False
    assert apart("in_place", [], ["ctl1"], []) is False
    for strategy in ("blue_green", "in_place", "rolling"):
        kept = rm.control_plane_phases("neutron", "2024.1", "2025.1", strategy)
        dropped = rm.control_plane_phases("neutron", "2024.1", "2025.1", strategy, apart_network_nodes=False)
        assert kept[-1] == "agents" and dropped == kept[:-1], strategy
        # the other components' steps do not depend on it
        assert rm.control_plane_phases("keystone", "2024.1", "2025.1", strategy, apart_network_nodes=False) \
            == rm.control_plane_phases("keystone", "2024.1", "2025.1", strategy)
    plan = rm.build_plan("2024.1", "2025.1", "RegionOne", [], strategy="in_place", apart_network_nodes=False)
    neutron = [c for c in plan["components"] if c["component"] == "neutron"][0]
    assert not any(step["action"] == "agents" for step in neutron["steps"])


def test_rolling_steps_are_the_executors_phases_in_its_order():
    """Rolling: the schema grows once before the first node restarts, each node leaves the
    load balancer, moves and comes back, what the old release needed goes after the last."""
    for comp in rm.COMPONENTS:
        phases = rm.control_plane_phases(comp, "2024.1", "2025.1", "rolling")
        assert set(phases) <= set(rm.CONTROL_PLANE_PHASES) and phases == sorted(phases, key=rm.ROLLING_PHASES.index)
        assert phases[:2] == ["backup", "expand"]
        node = phases[phases.index("drain"):phases.index("enable") + 1]
        assert node == ["drain", "prepare", "stop", "deploy", "smoke", "enable"], comp
        assert not {"switch", "retire", "migrate", "copy_state", "load"} & set(phases)
    got = dict((c, rm.control_plane_phases(c, "2024.1", "2025.1", "rolling")) for c in rm.COMPONENTS)
    # the expand/contract services contract after the last node; the additive ones run
    # their online data migrations; nova and cinder restart once more to lift their RPC pins
    assert [c for c in rm.COMPONENTS if "contract" in got[c]] == ["keystone", "glance", "neutron"]
    assert [c for c in rm.COMPONENTS if "online" in got[c]] == ["placement", "nova", "cinder", "ironic"]
    assert [c for c in rm.COMPONENTS if "unpin" in got[c]] == ["nova", "cinder", "ironic"]
    assert "data" in got["glance"] and got["neutron"][-1] == "agents"
    # cinder keeps each node's host name: no move to the alias (the other strategies' cleanup)
    assert got["cinder"][-1] == "unpin" and "cleanup" not in got["cinder"]


def test_rolling_plan_names_the_commands():
    path = rm.upgrade_path("2024.1", "2025.1")
    text = dict((c, [s["text"] for s in rm.component_steps(c, path, "rolling", [])]) for c in rm.COMPONENTS)
    assert "keystone-manage db_sync --expand (keystone 2025.1 code), the old nodes keep serving" in text["keystone"]
    assert any(t.startswith("glance-manage db contract (glance 2025.1 code) once no node runs") for t in text["glance"])
    assert any(t.startswith("neutron-db-manage has_offline_migrations: when a contract revision is pending")
               for t in text["neutron"])
    assert any(t.startswith("nova-manage db sync (nova 31") for t in text["nova"])


@pytest.mark.parametrize("current,target,ok", [("2024.1", "2025.1", True), ("2024.2", "2025.1", True),
                                               ("2023.1", "2025.1", False), ("2023.2", "2025.1", False)])
def test_rolling_only_where_an_old_node_serves_beside_the_target(current, target, ok):
    if ok:
        assert rm.rolling_check(current, target)["mode"] in ("direct", "slurp")
    else:
        with pytest.raises(rm.ReleaseModelError, match="rolling keeps .* use blue_green or in_place for this path"):
            rm.control_plane_phases("nova", current, target, "rolling")


def test_version_consistency_rows_per_role_group():
    from ansible_collections.stackhop.upgrade.plugins.filter.preflight import version_consistency_rows
    groups = {"stackhop_controllers": ["ctl-old"], "stackhop_controllers_new": ["ctl-new"],
              "stackhop_computes": ["cmp1", "cmp2", "cmp3"]}
    versions = {"ctl-old": {"nova": "29.0.1"}, "ctl-new": {}, "cmp1": {"nova": "29.0.1", "neutron": "24.0.0"},
                "cmp2": {"nova": "29.0.0", "neutron": "24.0.0"}}
    rows = version_consistency_rows(["stackhop_controllers", "stackhop_controllers_new", "stackhop_computes"],
                                    groups, versions, {"ctl-new": "True", "ctl-old": False}, ["nova", "neutron"])
    assert rows == [
        {"check": "version_consistency", "host": "stackhop_controllers", "target": "", "status": "ok",
         "message": "same versions on 1 host"},
        {"check": "version_consistency", "host": "stackhop_computes", "target": "nova", "status": "failure",
         "message": "nova differs across stackhop_computes: 29.0.1 on cmp1; 29.0.0 on cmp2; bring every host "
                    "of the role to one version before the window"}]
    # cmp3 did not run the check; ctl-new has no code yet: neither is compared
    assert version_consistency_rows(["stackhop_computes"], groups, {"cmp1": {"nova": "1"}, "cmp2": {"nova": "1"}},
                                    ["cmp2"])[0]["message"] == "same versions on 1 host"


def test_config_option_jobs_and_rows():
    from ansible_collections.stackhop.upgrade.plugins.filter.preflight import config_option_jobs, config_option_rows
    ok = {"state": "ok", "release": "2024.1", "python_env": "/opt/stackhop/venvs/2024.1", "running": ["x.service"]}
    discovered = {
        "components": {"nova": ok, "keystone": dict(ok, release="2025.1"), "glance": dict(ok, python_env="system"),
                       "cinder": {"state": "absent"},
                       # the old side after a blue-green switch: its units stopped, its files read by nothing
                       "placement": dict(ok, running=[])},
        "services": [
            {"component": "nova", "state": "running", "config_files": ["/etc/nova/api-paste.ini", "/etc/nova/nova.conf"]},
            {"component": "nova", "state": "stopped", "config_files": ["/etc/nova/nova.conf", "/etc/nova/cells.conf"]},
            {"component": "keystone", "state": "running", "config_files": ["/etc/keystone/keystone.conf"]},
            {"component": "glance", "state": "running", "config_files": ["/etc/glance/glance-api.conf"]},
            {"component": "placement", "state": "stopped", "config_files": ["/etc/placement/placement.conf"]},
        ]}
    jobs = config_option_jobs(discovered, "2025.1", "/opt/stackhop/venvs/2025.1/bin/python")
    # keystone already runs the target; the paste ini is not oslo.config's
    assert jobs == [
        {"component": "nova", "paths": ["/etc/nova/nova.conf", "/etc/nova/cells.conf"], "target_code": True,
         "releases": [{"name": "2024.1", "python": "/opt/stackhop/venvs/2024.1/bin/python"},
                      {"name": "2025.1", "python": "/opt/stackhop/venvs/2025.1/bin/python"}]},
        {"component": "glance", "paths": ["/etc/glance/glance-api.conf"], "target_code": True,
         "releases": [{"name": "2024.1", "python": "/usr/bin/python3"},
                      {"name": "2025.1", "python": "/opt/stackhop/venvs/2025.1/bin/python"}]}]

    results = [
        {"item": jobs[0], "target": "2025.1", "files": [
            {"path": "/etc/nova/nova.conf", "renamed": [{"from": "DEFAULT/osapi_max_limit", "to": "api/max_limit"}],
             "unknown": [{"section": "DEFAULT", "option": "use_neutron", "removed_in": "2024.2",
                          "message": "DEFAULT/use_neutron was removed in 2024.2 (last declared by 2024.1)."}]},
            {"path": "/etc/nova/cells.conf", "renamed": [], "unknown": []}]},
        {"item": jobs[1], "failed": True, "msg": "the Python of 2024.1, /usr/bin/python3, is not an executable."},
        {"item": dict(jobs[1], component="placement", target_code=False), "skipped": True},
    ]
    assert config_option_rows("ctl-old", results) == [
        {"check": "config_options", "host": "ctl-old", "target": "nova", "status": "warning", "ack": "config_options",
         "message": "/etc/nova/nova.conf: DEFAULT/use_neutron was removed in 2024.2 (last declared by 2024.1); "
                    "remove it, or acknowledge config_options if the service may ignore it"},
        {"check": "config_options", "host": "ctl-old", "target": "nova", "status": "ok",
         "message": "nova: 2 file(s) checked against 2025.1; the upgrade renames nova.conf: DEFAULT/osapi_max_limit "
                    "-> api/max_limit"},
        {"check": "config_options", "host": "ctl-old", "target": "glance", "status": "failure",
         "message": "glance: its config files could not be checked against 2025.1 (the Python of 2024.1, "
                    "/usr/bin/python3, is not an executable)"},
        {"check": "config_options", "host": "ctl-old", "target": "placement", "status": "skipped",
         "message": "placement: the target release's code is not on ctl-old yet; its config files are checked "
                    "once it is staged"}]


def test_the_release_whose_upgrade_checks_run_is_the_first_hop_or_the_next_slurp():
    # a fast-forward: the first hop's code reads the current schema; the target's cannot
    assert rm.check_release("zed", "2024.1") == "2023.1"
    assert rm.check_release("2023.2", "2025.1") == "2024.1"
    # from a SLURP release, the next SLURP's checks (written for the previous SLURP's data),
    # not 2024.2's neutron-status, which dies on SQLAlchemy 2
    assert rm.check_release("2024.1", "2025.2") == "2025.1"
    assert rm.check_release("2023.1", "2025.1") == "2024.1"
    # the next release, and a SLURP jump (its migrations are the target's): the target
    assert rm.check_release("2024.1", "2024.2") == "2024.2"
    assert rm.check_release("2024.1", "2025.1") == "2025.1"


def test_a_unit_running_another_components_code_is_read_with_its_options():
    """ironic's nova-compute-ironic is nova-compute: its file is read with nova's options
    (the catalogue's code_of_units), ironic.conf with ironic's."""
    from ansible_collections.stackhop.upgrade.plugins.filter.preflight import config_option_jobs
    ok = {"state": "ok", "release": "2024.1", "python_env": "/v/2024.1", "running": ["ironic-api.service"]}
    discovered = {"components": {"ironic": ok}, "services": [
        {"component": "ironic", "unit": "ironic-conductor.service", "state": "running",
         "config_files": ["/etc/ironic/ironic.conf"]},
        {"component": "ironic", "unit": "nova-compute-ironic.service", "state": "running",
         "config_files": ["/etc/nova/nova-compute-ironic.conf"]}]}
    jobs = config_option_jobs(discovered, "2025.1", "/v/2025.1/bin/python")
    assert [(j["component"], j["paths"]) for j in jobs] == [
        ("ironic", ["/etc/ironic/ironic.conf"]), ("nova", ["/etc/nova/nova-compute-ironic.conf"])]
    assert jobs[1]["releases"] == [{"name": "2024.1", "python": "/v/2024.1/bin/python"},
                                   {"name": "2025.1", "python": "/v/2025.1/bin/python"}]


def test_config_option_jobs_read_each_staged_hop_of_a_fast_forward():
    from ansible_collections.stackhop.upgrade.plugins.filter.preflight import config_option_jobs
    venvs = "/opt/stackhop/venvs"
    discovered = {"components": {"nova": {"state": "ok", "release": "2022.2", "python_env": "system",
                                          "running": ["nova-api.service"]}},
                  "services": [{"component": "nova", "state": "running", "config_files": ["/etc/nova/nova.conf"]}]}
    jobs = config_option_jobs(discovered, "2024.1", venvs + "/2024.1/bin/python", True,
                              ["2023.1", "2023.2", "2024.1"], venvs)
    assert [r["name"] for r in jobs[0]["releases"]] == ["2022.2", "2023.1", "2023.2", "2024.1"]
    assert jobs[0]["releases"][2]["python"] == venvs + "/2023.2/bin/python"
    # a hop not staged is not read; a component already past a hop (a resumed run) starts after it
    jobs = config_option_jobs(discovered, "2024.1", venvs + "/2024.1/bin/python", True, ["2023.2", "2024.1"], venvs)
    assert [r["name"] for r in jobs[0]["releases"]] == ["2022.2", "2023.2", "2024.1"]
    discovered["components"]["nova"].update(release="2023.1", python_env=venvs + "/2023.1")
    jobs = config_option_jobs(discovered, "2024.1", venvs + "/2024.1/bin/python", True,
                              ["2023.1", "2023.2", "2024.1"], venvs)
    assert [r["name"] for r in jobs[0]["releases"]] == ["2023.1", "2023.2", "2024.1"]


def test_schema_args_of_each_step():
    assert rm.schema_args("glance") == ["db_sync"]
    assert [rm.schema_args("glance", s) for s in ("expand", "data", "contract")] == [
        ["db", "expand"], ["db", "migrate"], ["db", "contract"]]
    assert [rm.schema_args("neutron", s) for s in ("sync", "expand", "contract")] == [
        ["upgrade", "heads"], ["upgrade", "--expand"], ["upgrade", "--contract"]]
    # the additive ones: expand is their sync, nothing to contract
    assert rm.schema_args("cinder", "expand") == ["db", "sync"] and rm.schema_args("cinder", "contract") == []
    assert rm.schema_args("placement", "expand") == ["db", "sync"]
    with pytest.raises(rm.ReleaseModelError, match="nova's schema sync is 2 commands"):
        rm.schema_args("nova", "expand")
    with pytest.raises(rm.ReleaseModelError, match="Schema step 'shrink' is unknown"):
        rm.schema_args("keystone", "shrink")
