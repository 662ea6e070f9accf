"""nova_cell_v2's decisions (wanted cells vs the cell mappings), without a database.

The module itself runs against MariaDB and a real nova-manage in tests/nova/.
"""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError
from ansible_collections.stackhop.upgrade.plugins.modules import nova_cell_v2 as m

CELL0 = m.CELL0_UUID
DB1, MQ1 = "mysql+pymysql://nova:pw@db/nova", "rabbit://nova:pw@mq:5672/"
DB2, MQ2 = "mysql+pymysql://nova:pw@db/nova2", "rabbit://nova:pw@mq:5672/cell2"
DB0 = "mysql+pymysql://nova:pw@db/nova_cell0"


def cell(name, uuid, db, mq):
    return {"id": uuid, "uuid": uuid, "name": name, "transport_url": mq,
            "database_connection": db, "disabled": 0}


def want(name, db, mq):
    return {"name": name, "database_connection": db, "transport_url": mq}


def commands(actions):
    return [(a.command, a.name) for a in actions]


def test_fresh_api_database_maps_cell0_then_creates_the_cells():
    actions, warnings = m.decide_cells([want("cell1", DB1, MQ1), want("cell2", DB2, MQ2)], [])
    assert commands(actions) == [("map_cell0", "cell0"), ("create_cell", "cell1"),
                                 ("create_cell", "cell2")]
    assert actions[1].want == want("cell1", DB1, MQ1) and actions[1].have is None
    assert warnings == []


def test_converged_layout_needs_nothing():
    cells = [cell("cell0", CELL0, DB0, "none:///"), cell("cell1", "u1", DB1, MQ1)]
    assert m.decide_cells([want("cell1", DB1, MQ1)], cells, cell0_database_connection=DB0) == ([], [])


def test_cell0_option_off_leaves_cell0_alone():
    actions, _warnings = m.decide_cells([want("cell1", DB1, MQ1)], [], cell0=False,
                                        cell0_database_connection=DB0)
    assert commands(actions) == [("create_cell", "cell1")]


@pytest.mark.parametrize("update", [False, True])
def test_different_urls_are_a_warning_unless_update(update):
    have = cell("cell1", "u1", DB1, "rabbit://old@mq/")
    actions, warnings = m.decide_cells([want("cell1", DB1, MQ1)], [have], cell0=False,
                                       update=update)
    if update:
        assert commands(actions) == [("update_cell", "cell1")]
        assert actions[0].have is have and actions[0].want["transport_url"] == MQ1
        assert warnings == []
    else:
        assert actions == []
        assert warnings == ["cell cell1 (u1) has a different transport_url than wanted; left "
                            "alone, set update: true to change it"]


def test_cell0_url_compared_with_the_derived_one_when_cell0_is_not_mapped():
    derived = []

    def derive():
        derived.append(1)
        return DB0

    actions, _warnings = m.decide_cells([], [], cell0_database_connection=DB0, derived_cell0=derive)
    assert commands(actions) == [("map_cell0", "cell0")] and derived == [1]
    actions, _warnings = m.decide_cells([], [], cell0_database_connection=DB0 + "_x",
                                        derived_cell0=derive)
    assert commands(actions) == [("map_cell0", "cell0"), ("update_cell0", "cell0")]
    assert actions[1].want == {"database_connection": DB0 + "_x"}


def test_mapped_cell0_with_another_url_is_updated_only_with_update():
    cells = [cell("cell0", CELL0, DB0, "none:///")]
    actions, warnings = m.decide_cells([], cells, cell0_database_connection=DB0 + "_x")
    assert actions == [] and warnings == [
        "cell0 has a different database_connection than wanted; left alone, set update: "
        "true to change it"]
    actions, warnings = m.decide_cells([], cells, cell0_database_connection=DB0 + "_x", update=True)
    assert commands(actions) == [("update_cell0", "cell0")] and warnings == []


def test_order_is_cell0_then_created_then_updated_cells():
    cells = [cell("cell1", "u1", "mysql://old/nova", MQ1)]
    actions, _warnings = m.decide_cells([want("cell1", DB1, MQ1), want("cell2", DB2, MQ2)], cells,
                                        cell0_database_connection=DB0, update=True,
                                        derived_cell0=lambda: "mysql://other")
    assert commands(actions) == [("map_cell0", "cell0"), ("update_cell0", "cell0"),
                                 ("create_cell", "cell2"), ("update_cell", "cell1")]


def test_a_name_mapped_twice_is_refused():
    cells = [cell("cell1", "u1", DB1, MQ1), cell("cell1", "u2", DB2, MQ2)]
    with pytest.raises(StackhopError, match="cell name cell1 is mapped 2 times \\(u1, u2\\)"):
        m.decide_cells([want("cell1", DB1, MQ1)], cells)


def test_sharing_a_url_with_another_cell_is_refused_and_masked():
    cells = [cell("cell1", "u1", DB1, MQ1)]
    with pytest.raises(StackhopError) as exc:
        m.decide_cells([want("cell2", DB2, MQ1)], cells, mask=lambda text: text.upper())
    assert exc.value.msg.startswith("CELL CELL2 WOULD SHARE ITS DATABASE OR TRANSPORT URL WITH CELL CELL1 (U1)")


def test_two_new_cells_sharing_a_url_are_refused():
    with pytest.raises(StackhopError, match="cells cell1 and cell2 would share a database"):
        m.decide_cells([want("cell1", DB1, MQ1), want("cell2", DB2, MQ1)], [])


def test_mappings_from_the_pending_counts():
    by_name = m.cells_by_name([cell("cell0", CELL0, DB0, "none:///"), cell("cell1", "u1", DB1, MQ1)])
    assert list(by_name) == ["cell1"]
    state = {"pending_hosts": {"u1": ["c2", "c1"], "new:cell2": ["c1", "c3"]},
             "pending_instances": {"u1": 0, "new:cell2": 7}}
    wanted = [want("cell1", DB1, MQ1), want("cell2", DB2, MQ2)]
    actions = m.decide_mappings(wanted, by_name, state)
    assert commands(actions) == [("discover_hosts", None), ("map_instances", "cell2")]
    assert actions[0].hosts == ["c1", "c2", "c3"] and actions[1].count == 7
    assert m.decide_mappings(wanted, by_name, state, discover_hosts=False, map_instances=False) == []
    assert m.decide_mappings(wanted, by_name, {"pending_hosts": {}, "pending_instances": {}}) == []
