"""ovs_default_flows' want/have decision on dumped flow lines (pure Python)."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import StackhopError
from ansible_collections.stackhop.upgrade.plugins.modules import ovs_default_flows as m

COOKIE = 0x737461636B686F70

# br-int as a 2024.1 agent leaves it (ovs-ofctl --no-stats --no-names dump-flows)
DUMP_2024_1 = [
    "cookie=0x3ddb92c4682c0ebc, priority=0 actions=resubmit(,58)",
    "cookie=0x3ddb92c4682c0ebc, priority=9,in_port=3 actions=resubmit(,25)",
    "cookie=0x3ddb92c4682c0ebc, priority=3,in_port=1,dl_vlan=100 actions=mod_vlan_vid:1,resubmit(,58)",
    "cookie=0x3ddb92c4682c0ebc, table=58, priority=0 actions=resubmit(,60)",
    "cookie=0x3ddb92c4682c0ebc, table=60, priority=3 actions=NORMAL",
]


def flow(table, actions, priority=0, match=""):
    return {"table": table, "priority": priority, "match": match, "actions": actions}


def test_parse_flow_reads_table_priority_match_and_cookie():
    assert m.parse_flow(DUMP_2024_1[2]) == (0, 3, frozenset(["in_port=1", "dl_vlan=100"]),
                                            0x3DDB92C4682C0EBC)
    assert m.parse_flow("table=7, actions=drop") == (7, 32768, frozenset(), 0)
    # timeouts and flags are not match fields
    assert m.parse_flow("cookie=0x5, table=2, idle_timeout=30, priority=4,ip actions=NORMAL") \
        == (2, 4, frozenset(["ip"]), 5)


def test_the_missing_table_is_added_with_the_module_cookie():
    add, present, delete = m.decide(DUMP_2024_1, [flow(59, "goto_table:60")], COOKIE, "present")
    assert add == ["table=59,priority=0,cookie=0x737461636b686f70,actions=goto_table:60"]
    assert present == [] and delete == []


def test_a_flow_the_bridge_has_is_left_alone_whatever_its_cookie_or_actions():
    wanted = [flow(60, "NORMAL", priority=3), flow(0, "drop", priority=3, match="dl_vlan=100,in_port=1")]
    add, present, _delete = m.decide(DUMP_2024_1, wanted, COOKIE, "present")
    assert add == []
    assert present == ["table=60,priority=3", "table=0,priority=3,dl_vlan=100,in_port=1"]


def test_after_the_agent_wrote_its_own_flow_nothing_is_added():
    dump = DUMP_2024_1 + ["cookie=0xbdcccd73ce2cf3a9, table=59, priority=0 actions=goto_table:60"]
    add, present, _delete = m.decide(dump, [flow(59, "goto_table:60")], COOKIE, "present")
    assert add == [] and present == ["table=59,priority=0"]


def test_a_flow_listed_twice_is_added_once():
    add, _present, _delete = m.decide([], [flow(59, "goto_table:60")] * 2, COOKIE, "present")
    assert len(add) == 1


def test_absent_deletes_only_the_module_cookie():
    ours = "cookie=0x737461636b686f70, table=59, priority=0 actions=goto_table:60"
    add, present, delete = m.decide(DUMP_2024_1 + [ours], [], COOKIE, "absent")
    assert delete == [ours] and add == [] and present == []


@pytest.mark.parametrize("bad, words", [
    (flow(254, "drop"), "out of range"),
    (flow(3, "drop", priority=70000), "priority 70000"),
    (flow(3, "  "), "no actions"),
])
def test_bad_flows_fail_with_one_sentence(bad, words):
    with pytest.raises(StackhopError) as err:
        m.check_flows([bad])
    assert words in err.value.msg and err.value.msg.endswith("Nothing was changed.")
