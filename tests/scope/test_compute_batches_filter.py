"""The compute batches upgrade_computes.yml runs (filter stackhop.upgrade.compute_batches)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.compute_batches import compute_batches
from ansible_collections.stackhop.upgrade.plugins.module_utils.release_model import compute_batches as plan_batches

HOSTS = ([{"name": "a%d" % i, "az": "az1", "aggregate": ""} for i in range(1, 6)]
         + [{"name": "b%d" % i, "az": "az2", "aggregate": ""} for i in range(1, 3)])


def zones():
    return plan_batches(HOSTS, canary_size=1, batch_percent=50)


def test_every_batch_with_gates():
    got = compute_batches(zones())
    assert [(b["index"], b["az"], b["canary"], b["gate"]) for b in got] == [
        (1, "az2", True, ""), (2, "az2", False, "az2-canary"),
        (3, "az1", True, "az1"), (4, "az1", False, "az1-canary"), (5, "az1", False, ""),
    ]
    assert sorted(h for b in got for h in b["hosts"]) == sorted(h["name"] for h in HOSTS)


@pytest.mark.parametrize("stop_after", ["canary", "Canary", " canary "])
def test_stop_after_canary_keeps_each_az_canary(stop_after):
    got = compute_batches(zones(), stop_after)
    assert [(b["index"], b["az"], b["canary"], b["hosts"], b["gate"]) for b in got] == [
        (1, "az2", True, ["b1"], ""), (2, "az1", True, ["a1"], "az1")]


@pytest.mark.parametrize("stop_after", ["", "all", None])
def test_no_stop_keeps_every_batch(stop_after):
    assert compute_batches(zones(), stop_after) == compute_batches(zones())


def test_one_az_canary_only_has_no_gate():
    one = [z for z in zones() if z["az"] == "az1"]
    assert compute_batches(one, "canary") == [
        {"index": 1, "az": "az1", "canary": True, "hosts": ["a1"], "gate": ""}]


def test_unknown_value_is_refused_in_one_sentence():
    with pytest.raises(AnsibleFilterError, match=r"stackhop_compute_stop_after is 'rack'; set it to canary"):
        compute_batches(zones(), "rack")
