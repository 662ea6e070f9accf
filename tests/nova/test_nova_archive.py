"""nova_archive_deleted_rows's reading of nova-manage's output, and the release rule the
plan and the nova_controller role share (release_model.nova_archive_step).

The output samples are what nova-manage 2024.1 printed in tests/nova (real runs)."""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from ansible_collections.stackhop.upgrade.plugins.modules import nova_archive_deleted_rows as m

UNTIL_COMPLETE = """Archiving............complete
+------------------------------+-------------------------+
| Table                        | Number of Rows Archived |
+------------------------------+-------------------------+
| API_DB.instance_group_member | 0                       |
| API_DB.instance_mappings     | 0                       |
| API_DB.request_specs         | 0                       |
| instance_extra               | 25                      |
| instance_info_caches         | 25                      |
| instances                    | 25                      |
+------------------------------+-------------------------+
"""

PURGE = """DB: Deleted 25 rows from shadow_instance_extra based on timestamp column (n/a)
DB: Deleted 25 rows from shadow_instances based on timestamp column deleted_at
Cell 8a1b(cell1): Deleted 3 rows from shadow_instances based on timestamp column deleted_at
"""


def test_archive_table_and_batches():
    rows = m.add_counts({}, m.parse_archive_table(UNTIL_COMPLETE))
    assert rows == {"instance_extra": 25, "instance_info_caches": 25, "instances": 25}
    assert m.count_batches(UNTIL_COMPLETE) == 9     # 12 dots: "Archiving.." + 9 + ".complete"
    nothing = "Archiving...complete\nNothing was archived.\n"
    assert m.parse_archive_table(nothing) == {} and m.count_batches(nothing) == 0
    assert m.count_batches("Nothing was archived.\n") is None   # without --until-complete


def test_all_cells_names_and_purge_lines():
    table = "| cell1.instances | 4 |\n| cell0.instances | 1 |\n"
    assert m.parse_archive_table(table) == {"cell1.instances": 4, "cell0.instances": 1}
    assert m.parse_purge(PURGE) == {"shadow_instance_extra": 25, "shadow_instances": 25,
                                    "8a1b(cell1).shadow_instances": 3}


def test_archive_step_per_release():
    assert rm.nova_archive_step("2024.1")["commands"] == [
        "nova-manage db archive_deleted_rows --verbose --max_rows 1000 --until-complete"]
    old = rm.nova_archive_step("mitaka")
    assert old["run"] and not old["until_complete"]
    assert "once a batch" in old["commands"][0]
    assert rm.nova_archive_step("2024.1", {"archive": False}) == {
        "run": False, "until_complete": True, "purge": False, "commands": [], "note": None}
    purge = rm.nova_archive_step("2024.1", {"purge": True, "before": "2024-01-01",
                                            "all_cells": True, "max_rows": 500})
    assert purge["commands"] == [
        "nova-manage db archive_deleted_rows --verbose --max_rows 500 --before 2024-01-01 "
        "--all-cells --until-complete",
        "nova-manage db purge --verbose --before 2024-01-01 --all-cells"]
    stein = rm.nova_archive_step("stein", {"before": "2024-01-01"})
    assert not stein["run"] and "train" in stein["note"]
    queens = rm.nova_archive_step("queens", {"purge": True})
    assert queens["run"] and not queens["purge"] and "rocky" in queens["note"]


def test_plan_lists_the_archive_before_each_online_data_migrations():
    plan = rm.build_plan("2023.1", "2024.1", "r", [])
    nova = [c for c in plan["components"] if c["component"] == "nova"][0]
    texts = [s["text"] for s in nova["steps"]]
    at = [i for i, t in enumerate(texts) if "online_data_migrations" in t]
    assert at and all("archive_deleted_rows" in texts[i - 1] for i in at)
    off = rm.build_plan("2023.1", "2024.1", "r", [], nova_archive={"archive": False})
    nova = [c for c in off["components"] if c["component"] == "nova"][0]
    assert not any("archive" in s["text"] for s in nova["steps"])
    keystone = [c for c in plan["components"] if c["component"] == "keystone"][0]
    assert not any("archive" in s["text"] for s in keystone["steps"])


def test_one_set_of_defaults():
    """The role's defaults, the release model's and the plan module's agree."""
    import re
    from pathlib import Path

    import yaml

    from ansible_collections.stackhop.upgrade.plugins.modules import upgrade_plan

    root = Path(__file__).resolve().parents[2]
    role = yaml.safe_load((root / "roles/nova_controller/defaults/main.yml").read_text())
    names = {"archive": "nova_controller_archive_deleted_rows",
             "max_rows": "nova_controller_archive_max_rows",
             "purge": "nova_controller_archive_purge",
             "before": "nova_controller_archive_before",
             "all_cells": "nova_controller_archive_all_cells"}
    assert {k: role[v] for k, v in names.items()} == rm.NOVA_ARCHIVE_DEFAULTS
    spec = upgrade_plan.UpgradePlan.argument_spec["nova_archive"]["options"]
    assert {k: v["default"] for k, v in spec.items()} == rm.NOVA_ARCHIVE_DEFAULTS
    plan_yml = (root / "playbooks/plan.yml").read_text()
    for key, var in names.items():
        found = re.search(r"%s \| default\(([^)]*)\)" % var, plan_yml).group(1)
        assert yaml.safe_load(found) == rm.NOVA_ARCHIVE_DEFAULTS[key] or (
            found == "''" and rm.NOVA_ARCHIVE_DEFAULTS[key] == ""), var
