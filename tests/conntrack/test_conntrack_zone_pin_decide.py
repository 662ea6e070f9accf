"""conntrack_zone_pin's decisions on a parsed raw table, without iptables.

The module itself runs against real iptables in a network namespace in tests/conntrack/.
"""

from __future__ import annotations

from ansible_collections.stackhop.upgrade.plugins.module_utils.iptables import parse_save
from ansible_collections.stackhop.upgrade.plugins.modules import conntrack_zone_pin as m

CHAIN = "neutron-openvswi-PREROUTING"
PIN = "-m comment --comment stackhop-zone-pin -j CT --zone"


def raw(*rules, chain=True):
    lines = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    if chain:
        lines.append(":%s - [0:0]" % CHAIN)
    return parse_save("\n".join(lines + list(rules) + ["COMMIT", ""]))["raw"]


def pin_args(dev):
    return ["-m", "physdev", "--physdev-in", dev, "-m", "comment", "--comment", m.COMMENT,
            "-j", "CT", "--zone", "0"]


def devices_of(rules):
    return [r.device()[1] for r in rules]


def test_read_pins_separates_ours_from_the_others():
    table = raw("-A PREROUTING -m physdev --physdev-in tapb -j CT --zone 4097",
                "-A %s -m physdev --physdev-in tapa %s 0" % (CHAIN, PIN),
                "-A %s -m physdev --physdev-in tapb -j CT --zone 1" % CHAIN,
                "-A %s -m comment --comment stackhop-zone-pin -j ACCEPT" % CHAIN)
    chain, pins, foreign = m.read_pins(table, CHAIN)
    assert chain.name == CHAIN and devices_of(pins) == ["tapa"]
    assert list(foreign) == ["tapb"] and foreign["tapb"].ct_zone() == 4097   # the first one
    assert m.read_pins(raw(chain=False), CHAIN)[:2] == (None, [])


def test_present_adds_missing_pins_and_keeps_good_ones():
    table = raw("-A %s -m physdev --physdev-in tapa %s 0" % (CHAIN, PIN))
    _chain, pins, foreign = m.read_pins(table, CHAIN)
    stale, wanted, warnings = m.decide_present(pins, foreign, ["tapa", "tapb"], 0, "physdev", pin_args)
    assert stale == [] and wanted == [("tapb", pin_args("tapb"))] and warnings == []


def test_present_replaces_a_pin_in_another_zone_match_or_doubled():
    table = raw("-A %s -m physdev --physdev-in tapa %s 5" % (CHAIN, PIN),
                "-A %s -i tapb %s 0" % (CHAIN, PIN),
                "-A %s -m physdev --physdev-in tapc %s 0" % (CHAIN, PIN),
                "-A %s -m physdev --physdev-in tapc %s 0" % (CHAIN, PIN))
    _chain, pins, foreign = m.read_pins(table, CHAIN)
    stale, wanted, _warnings = m.decide_present(pins, foreign, ["tapa", "tapb", "tapc"], 0,
                                                "physdev", pin_args)
    assert devices_of(stale) == ["tapa", "tapb", "tapc", "tapc"]
    assert [dev for dev, _args in wanted] == ["tapa", "tapb", "tapc"]


def test_present_leaves_a_device_with_someone_elses_ct_rule_alone():
    table = raw("-A %s -m physdev --physdev-in tapa -j CT --zone 4097" % CHAIN,
                "-A %s -m physdev --physdev-in tapb -j CT --zone 0" % CHAIN)
    _chain, pins, foreign = m.read_pins(table, CHAIN)
    stale, wanted, warnings = m.decide_present(pins, foreign, ["tapa", "tapb"], 0, "physdev", pin_args)
    assert stale == [] and wanted == []
    assert warnings == ["tapa already has a CT rule in chain %s (zone 4097) that is not ours; "
                        "left alone" % CHAIN]


def test_absent_removes_the_selected_pins_then_the_jump_and_the_chain():
    table = raw("-A PREROUTING -m comment --comment stackhop-zone-pin -j %s" % CHAIN,
                "-A %s -m physdev --physdev-in tapa %s 0" % (CHAIN, PIN),
                "-A %s -m physdev --physdev-in qvo1 %s 0" % (CHAIN, PIN))
    chain, pins, _foreign = m.read_pins(table, CHAIN)
    gone, jumps, drop = m.decide_absent(table, chain, pins, lambda dev: dev.startswith("tap"))
    assert devices_of(gone) == ["tapa"] and jumps == [] and drop is False
    gone, jumps, drop = m.decide_absent(table, chain, pins, lambda dev: True)
    assert devices_of(gone) == ["tapa", "qvo1"] and [r.chain for r in jumps] == ["PREROUTING"]
    assert drop is True


def test_absent_keeps_a_chain_that_others_use():
    table = raw("-A PREROUTING -m comment --comment stackhop-zone-pin -j %s" % CHAIN,
                "-A OUTPUT -j %s" % CHAIN,
                "-A %s -m physdev --physdev-in tapa %s 0" % (CHAIN, PIN))
    chain, pins, _foreign = m.read_pins(table, CHAIN)
    gone, jumps, drop = m.decide_absent(table, chain, pins, lambda dev: True)
    assert devices_of(gone) == ["tapa"] and len(jumps) == 1 and drop is False
