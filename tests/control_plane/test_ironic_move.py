"""plugins/module_utils/ironic_move.py and the filter stackhop.upgrade.ironic_host_move:
nova's side of moving nova-compute-ironic to the new controller."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.filter.ironic_move import ironic_host_move
from ansible_collections.stackhop.upgrade.plugins.module_utils import ironic_move

AGGREGATES = [{"ID": 1, "Name": "rack1", "Hosts": ["cmp1"]},
              {"ID": 2, "Name": "lab-baremetal", "Hosts": ["ctl-old"]},
              {"ID": 3, "Name": "both", "Hosts": ["ctl-old", "ctl-new"]}]
SERVICES = [{"ID": 7, "Binary": "nova-compute", "Host": "cmp1", "State": "up"},
            {"ID": 9, "Binary": "nova-compute", "Host": "ctl-old", "State": "down"},
            {"ID": 12, "Binary": "nova-compute", "Host": "ctl-new", "State": "up"}]


def test_the_new_host_takes_the_old_ones_place():
    move = ironic_move.host_move("ctl-old", "ctl-new", AGGREGATES, SERVICES)
    assert move["add"] == ["lab-baremetal"]          # "both" holds it already
    assert move["remove"] == ["lab-baremetal", "both"]
    assert move["delete_services"] == [9]
    assert move["new_up"] is True
    assert move["args"] == {"old": "ctl-old", "new": "ctl-new"}
    # compute nodes first, then the instances' host and launched_on, ironic nodes only
    assert [q.split(" SET ", maxsplit=1)[0] for q in move["queries"]] == [
        "UPDATE compute_nodes", "UPDATE instances", "UPDATE instances"]
    assert all("%(old)s" in q and "%(new)s" in q and "ironic" in q for q in move["queries"])
    assert "launched_on = %(new)s" in move["queries"][2]
    # nova's API refuses to remove a host whose compute nodes moved: its rows go directly
    assert move["aggregate_queries"] == ["DELETE FROM aggregate_hosts WHERE host = %(old)s"]


def test_nothing_to_do_in_place_or_when_done():
    assert ironic_move.host_move("ctl", "ctl", AGGREGATES, SERVICES)["queries"] == []
    done = ironic_move.host_move("ctl-old", "ctl-new", [{"Name": "lab-baremetal", "Hosts": ["ctl-new"]}],
                                 [{"ID": 12, "Host": "ctl-new", "State": "up"}])
    assert done["add"] == done["remove"] == done["delete_services"] == done["aggregate_queries"] == []


def test_new_host_not_up_yet_and_lowercase_keys():
    move = ironic_move.host_move("a", "b", [{"name": "x", "hosts": ["a"]}], [{"id": 1, "host": "b", "state": "down"}])
    assert move["new_up"] is False and move["add"] == ["x"] and move["remove"] == ["x"]


def test_errors_are_one_sentence():
    with pytest.raises(AnsibleFilterError, match="must be named"):
        ironic_host_move("", "ctl-new")
    with pytest.raises(AnsibleFilterError, match="none of Name, name"):
        ironic_host_move("a", "b", [{"Hosts": ["a"]}])


def test_verify_lets_bare_metal_servers_follow_the_new_controller():
    assert ironic_move.moved_server_hosts("blue_green", ["nova", "ironic"], ["ctl-old"], ["ctl-new"]) == {
        "ctl-old": "ctl-new"}
    assert ironic_move.moved_server_hosts("in_place", ["ironic"], ["ctl-old"], ["ctl-new"]) == {}
    assert ironic_move.moved_server_hosts("blue_green", ["nova"], ["ctl-old"], ["ctl-new"]) == {}
