"""rollback_computes.yml and rollback.yml (issue 22 part 4): the computes go back in the
upgrade's batches, before the control plane; -e stackhop_rollback_computes=false leaves them
alone. Runs the playbooks on the example inventory with the test-only strategy of
test_scope_playbooks.py: only the controller-side plays run, so nothing touches a host."""

from __future__ import annotations

from tests.scope.test_compute_canary import printed_batches
from tests.scope.test_scope_playbooks import record

BATCHES = "Roll the computes back, batch by batch"
CONTROL_PLANE = "Roll the control plane back to release N"


def test_the_rollback_goes_through_the_upgrades_batches(tmp_path):
    proc, plays = record(tmp_path, "rollback_computes", stackhop_select_region="dc1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    rolled, _msg = printed_batches(proc.stdout)
    proc_up, _plays = record(tmp_path, "upgrade_computes", stackhop_select_region="dc1")
    upgraded, _msg = printed_batches(proc_up.stdout)
    assert rolled == upgraded
    names = [play for play, _hosts in plays]
    assert names.index("Read the rollback's completed steps and what the computes run") < names.index(BATCHES)
    # one recorded line per serial batch, in the plan's order
    assert [hosts for play, hosts in plays if play == BATCHES][0] == [h for b in rolled for h in b[4]]


def test_rollback_yml_rolls_the_computes_back_before_the_control_plane(tmp_path):
    proc, plays = record(tmp_path, "rollback", stackhop_select_region="dc1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    names = [play for play, _hosts in plays]
    assert names.index(BATCHES) < names.index(CONTROL_PLANE)
    assert len(set(next(hosts for play, hosts in plays if play == BATCHES))) == 7


def test_the_control_plane_only(tmp_path):
    proc, plays = record(tmp_path, "rollback", stackhop_select_region="dc1", stackhop_rollback_computes=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert [hosts for play, hosts in plays if play == BATCHES] in ([], [[]])
    assert any(play == CONTROL_PLANE and hosts for play, hosts in plays)
