"""plugins/module_utils/online_migrations.py: the tables of nova, placement and older
cinder, ironic's lines, the progress after each batch, the line an operator reads."""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.module_utils import online_migrations as om

NOVA = """+---------------------------------------------+--------------+-----------+
|                  Migration                  | Total Needed | Completed |
+---------------------------------------------+--------------+-----------+
|         fill_virtual_interface_list         |      0       |     0     |
|        migrate_quota_limits_to_api_db       |      0       |     0     |
|         populate_queued_for_delete          |     100      |    100    |
|               populate_user_id              |      0       |     0     |
+---------------------------------------------+--------------+-----------+
"""

OLD_CINDER = """Running batches of 50 until complete.
+------------------------------+-------+------+-----------+
| Migration                    | Found | Done | Remaining |
+------------------------------+-------+------+-----------+
| remove_temporary_admin_metadata_data_migration | 50 | 50 | 120 |
| shared_targets_online_data_migration | 0 | 0 | 0 |
+------------------------------+-------+------+-----------+
"""


def test_nova_table():
    rows = om.parse_table(NOVA)
    assert rows["populate_queued_for_delete"] == [100, 100, None]
    assert rows["populate_user_id"] == [0, 0, None]
    assert len(rows) == 4          # header and borders are not rows


def test_old_cinder_table_has_remaining():
    rows = om.parse_table(OLD_CINDER)
    assert rows["remove_temporary_admin_metadata_data_migration"] == [50, 50, 120]


def test_empty_output_is_no_rows():
    assert om.parse_table("") == {}
    assert om.parse_table("Must supply a positive value for max_number\n") == {}


def test_progress_over_batches():
    p = om.new_progress("nova", "RegionOne (2025.1)")
    om.add_batch(p, om.parse_table(NOVA), 1, 2.0)
    assert (p["batches"], p["migrated_total"], p["done"], p["failed"]) == (1, 100, False, False)
    assert p["line"] == ("nova online data migrations, RegionOne (2025.1): batch 1 found 100 "
                         "and migrated 100 rows; 100 rows migrated in 2 s; more batches to run "
                         "(the service counts rows only as it migrates them)")
    om.add_batch(p, {"populate_queued_for_delete": [0, 0, None]}, 0, 0.5)
    assert (p["batches"], p["migrated_total"], p["done"]) == (2, 100, True)
    assert p["migrated"] == {"populate_queued_for_delete": 100}
    assert p["line"].endswith("batch 2 found 0 and migrated 0 rows; 100 rows migrated in 2 s; done")


def test_remaining_and_failure_lines():
    p = om.new_progress("cinder", "")
    om.add_batch(p, om.parse_table(OLD_CINDER), 1, 1.0)
    assert p["remaining"] == 120 and p["line"].endswith("; 120 rows left")
    om.add_batch(p, {}, 2, 1.0)
    assert p["failed"] and "FAILED (a migration failed and no other could progress)" in p["line"]


def test_every_service_has_its_command():
    assert om.SERVICES["cinder"]["max_count"] == "--max_count"
    assert {s["manage"] for s in om.SERVICES.values()} == {
        "nova-manage", "cinder-manage", "placement-manage", "ironic-dbsync"}


# ironic-dbsync online_data_migrations --max-count 50 (ironic/command/dbsync.py)
IRONIC = """update_to_latest_versions() migrated 50 of 73 objects.
Data migrations have not completed. Please re-run.
"""


def test_ironic_lines_and_argv():
    assert om.parse("ironic", IRONIC) == {"update_to_latest_versions": [73, 50, None]}
    assert om.parse("ironic", "Data migrations have completed.\n") == {}
    # the other services' tables are not read as ironic lines, nor the other way round
    assert om.parse("nova", IRONIC) == {}
    assert om.parse("ironic", NOVA) == {}
    assert om.batch_argv("ironic", "/v/bin/ironic-dbsync", ["/etc/ironic/ironic.conf"], 50) == [
        "/v/bin/ironic-dbsync", "--config-file", "/etc/ironic/ironic.conf", "online_data_migrations",
        "--max-count", "50"]
    assert om.batch_argv("cinder", "cinder-manage", ["/a", "/b"], 7) == [
        "cinder-manage", "--config-file", "/a", "--config-file", "/b", "db", "online_data_migrations",
        "--max_count", "7"]
    progress = om.add_batch(om.new_progress("ironic", "2025.1"), om.parse("ironic", IRONIC), 1, 2.0)
    assert progress["migrated_total"] == 50 and not progress["done"] and not progress["failed"]


CONTEXT = "[None req-c48 - - - - - -]"
LOG = (
    "2026-12-02 14:38:33.646 17279 ERROR stevedore.extension %s Could not load "
    "'oslo_cache.memcache_pool': No module named 'memcache'\x1b[00m\n"
    "2026-12-02 14:38:34.227 17279 ERROR nova.cmd.manage %s Error attempting to run "
    "<function fill_virtual_interface_list>: ProgrammingError: (1146, \"Table "
    "'nova_cell0.virtual_interfaces' doesn't exist\")\n"
    "2026-12-02 14:38:34.227 17279 ERROR nova.cmd.manage Traceback (most recent call last):\n"
    "2026-12-02 14:38:34.227 17279 ERROR nova.cmd.manage     raise errorclass(errno, errval)\n"
    "2026-12-02 14:38:34.227 17279 ERROR nova.cmd.manage \x1b[00m\n" % (CONTEXT, CONTEXT)) + """+-----------+--------------+-----------+
| Migration | Total Needed | Completed |
+-----------+--------------+-----------+
"""


def test_last_error_is_the_first_line_of_the_last_record():
    assert om.last_error(LOG) == (
        "Error attempting to run <function fill_virtual_interface_list>: ProgrammingError: "
        "(1146, \"Table 'nova_cell0.virtual_interfaces' doesn't exist\")")
    assert om.last_error("no log here") is None


def test_stuck_migrations():
    assert om.stuck({"a": [30, 0, None], "b": [5, 5, None], "c": [0, 0, None]}) == ["a"]
