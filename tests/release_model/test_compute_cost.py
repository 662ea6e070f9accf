"""The compute phase's cost model (issue 21 parts 2 and 4): the estimate per AZ and in all
from the plan's batches, the default coefficients' one place, and the least-squares fit."""

from __future__ import annotations

import re

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import compute_cost as cc
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm
from tests.lib.ansible_runner import REPO


def fleet(hosts_per_az, azs):
    return [{"name": "cmp%04d" % (a * hosts_per_az + i), "az": "az%02d" % (a + 1),
             "aggregate": "rack%d" % (i // 20)} for a in range(azs) for i in range(hosts_per_az)]


def test_two_compute_lab_one_host_per_batch():
    batches = rm.compute_batches([{"name": "cmp1", "az": "az1", "aggregate": "rack1"},
                                  {"name": "cmp2", "az": "az2", "aggregate": "rack2"}])
    est = cc.estimate(batches)
    assert [(a["az"], a["hosts"], a["batches"], a["seconds"]) for a in est["azs"]] == [
        ("az1", 1, 1, 84.5), ("az2", 1, 1, 84.5)]
    # a one-host batch costs the measured median, plus the playbook's fixed plays
    assert est["total_s"] == 5.4 + 84.5 + 84.5
    assert est["model"]["source"].startswith("2-compute lab")


def test_pause_after_every_batch_but_the_last():
    batches = rm.compute_batches(fleet(8, 2), batch_percent=50)   # canary, 4, 3 per AZ
    assert [len(z["batches"]) for z in batches] == [3, 3]
    model = {"fixed_s": 10, "per_batch_s": 100, "per_host_s": 1}
    est = cc.estimate(batches, model, batch_pause_s=60)
    assert [a["seconds"] for a in est["azs"]] == [300 + 8 + 3 * 60, 300 + 8 + 2 * 60]
    assert est["total_s"] == 10 + 488 + 428 and est["batches"] == 6 and est["hosts"] == 16
    assert est["model"]["source"] == "the inventory's stackhop_compute_cost_model"


def test_two_thousand_hypervisors_in_ten_azs_as_documented():
    """The extrapolation docs/compute-upgrade.md states, from the default (2-compute) model."""
    batches = rm.compute_batches(fleet(200, 10), canary_size=1, batch_percent=25)
    assert [len(b["hosts"]) for b in batches[0]["batches"]] == [1, 50, 50, 50, 49]
    est = cc.estimate(batches)
    assert est["batches"] == 50 and est["hosts"] == 2000
    assert est["azs"][0]["seconds"] == 5 * 76.0 + 200 * 8.5
    assert est["total_s"] == pytest.approx(5.4 + 50 * 76.0 + 2000 * 8.5)
    doc = (REPO / "docs" / "compute-upgrade.md").read_text()
    assert cc.duration_text(est["total_s"]) == "5 h 46 min" and "5 h 46 min" in doc
    assert cc.duration_text(est["azs"][0]["seconds"]) == "34 min 40 s" and "34 min 40 s" in doc
    paused = cc.estimate(batches, batch_pause_s=60)
    assert cc.duration_text(paused["total_s"]) == "6 h 35 min" and "6 h 35 min" in doc


def test_defaults_are_written_once():
    """The coefficients live in compute_cost.DEFAULT_MODEL only (no copy in a role, a
    playbook or another plugin)."""
    pattern = re.compile(r"per_batch_s\W+7\d\.\d")
    found = [str(p.relative_to(REPO)) for base in ("plugins", "roles", "playbooks")
             for p in (REPO / base).rglob("*") if p.is_file() and p.suffix in (".py", ".yml", ".j2")
             and pattern.search(p.read_text(errors="replace"))]
    assert found == ["plugins/module_utils/compute_cost.py"]


@pytest.mark.parametrize("model, message", [
    ({"per_host_s": -1}, "stackhop_compute_cost_model.per_host_s is -1: set it to a number"),
    ({"per_batch_s": "soon"}, "stackhop_compute_cost_model.per_batch_s is 'soon'"),
    ({"per_rack_s": 3}, "has per_rack_s, which the model does not know"),
])
def test_a_bad_model_is_refused_with_one_sentence(model, message):
    with pytest.raises(cc.CostModelError, match=re.escape(message)):
        cc.estimate([], model)


def test_no_compute_costs_nothing():
    est = cc.estimate([])
    assert est["total_s"] == 0 and est["azs"] == []


def test_fit_recovers_known_coefficients():
    truth = (12.0, 70.0, 3.0)
    rows = [{"batches": b, "hosts": h, "seconds": truth[0] + truth[1] * b + truth[2] * h}
            for b, h in ((2, 2), (8, 8), (3, 8), (2, 8), (16, 16), (5, 16), (2, 16), (20, 32))]
    out = cc.fit(rows)
    assert (out["fixed_s"], out["per_batch_s"], out["per_host_s"]) == truth
    assert out["max_error_pct"] == 0.0
    assert [r["predicted_s"] for r in out["rows"]] == [r["seconds"] for r in rows]


def test_fit_of_noisy_rows_and_the_20_percent_check():
    rows = [{"batches": 8, "hosts": 8, "seconds": 640}, {"batches": 5, "hosts": 8, "seconds": 430},
            {"batches": 2, "hosts": 8, "seconds": 205}, {"batches": 2, "hosts": 2, "seconds": 150}]
    out = cc.fit(rows)
    assert 60 < out["per_batch_s"] < 80 and out["max_error_pct"] < 10
    predicted = out["fixed_s"] + out["per_batch_s"] * 20 + out["per_host_s"] * 32
    assert cc.within(predicted, predicted * 1.15) and not cc.within(predicted, predicted * 1.3)
    assert not cc.within(10, 0)


def test_fit_refuses_rows_that_cannot_separate_the_terms():
    with pytest.raises(cc.CostModelError, match="measure at least three"):
        cc.fit([{"batches": 1, "hosts": 1, "seconds": 80}] * 2)
    # batch size 1 only: batches == hosts in every run
    with pytest.raises(cc.CostModelError, match="cannot tell a batch's cost from a host's"):
        cc.fit([{"batches": n, "hosts": n, "seconds": 80 * n} for n in (2, 8, 16)])


def test_duration_text():
    assert [cc.duration_text(s) for s in (42, 728, 3900, 20805.4)] == [
        "42 s", "12 min 08 s", "1 h 05 min", "5 h 46 min"]
