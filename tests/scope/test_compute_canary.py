"""A canary run of upgrade_computes.yml by a variable, not --limit (issue "Fit the operator's
ecosystem"): -e stackhop_compute_stop_after=canary plans and runs only each AZ's canary batch.

Runs the playbook on the example inventory with the test-only strategy of
test_scope_playbooks.py: only the controller-side plays run; the hosts every other play
resolves to are recorded, so nothing touches a host.
"""

from __future__ import annotations

import re

from tests.scope.test_scope_playbooks import record

BATCHES = "Upgrade the computes, batch by batch"


def printed_batches(stdout):
    """[(gate, index, az, canary, hosts)] from the 'Print the batches' task's message."""
    text = " ".join(stdout.split())
    msg = re.search(r"TASK \[Print the batches\].*?\"msg\": \"(.*?)\"", text) or \
        re.search(r"TASK \[Print the batches\].*?msg: (.*?) PLAY ", text)
    assert msg, stdout[-3000:]
    out = []
    for part in msg.group(1).rsplit("):", 1)[1].lstrip(":").split(";"):
        m = re.match(r"\s*(?:\[gate (\S+)\] )?batch (\d+) (\S+)( canary)? (\S+)", part)
        assert m, part
        hosts = m.group(5).strip("'\"").split(",")
        out.append((m.group(1) or "", int(m.group(2)), m.group(3), bool(m.group(4)), hosts))
    return out, msg.group(1)


def test_stop_after_canary_runs_only_the_canaries(tmp_path):
    proc, plays = record(tmp_path, "upgrade_computes", stackhop_select_region="dc1",
                         stackhop_compute_stop_after="canary")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    batches, msg = printed_batches(proc.stdout)
    assert "only the canary batch of each AZ" in msg
    # dc1: vxlan1 (2 computes) first, then vlan1 (5): one canary each, the AZ gate between
    assert [(b[0], b[1], b[2], b[3], len(b[4])) for b in batches] == [
        ("", 1, "vxlan1", True, 1), ("vlan1", 2, "vlan1", True, 1)]
    upgraded = [hosts for play, hosts in plays if play == BATCHES]
    assert upgraded and sorted(set(upgraded[0])) == sorted(h for b in batches for h in b[4])


def test_without_it_every_batch_runs(tmp_path):
    proc, plays = record(tmp_path, "upgrade_computes", stackhop_select_region="dc1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    batches, msg = printed_batches(proc.stdout)
    assert "only the canary" not in msg
    assert [b[3] for b in batches].count(True) == 2 and len(batches) > 2
    assert {b[0] for b in batches} == {"", "vxlan1-canary", "vlan1", "vlan1-canary"}
    upgraded = [hosts for play, hosts in plays if play == BATCHES]
    assert len(set(upgraded[0])) == 7


def test_unknown_value_is_refused(tmp_path):
    proc, plays = record(tmp_path, "upgrade_computes", stackhop_select_region="dc1",
                         stackhop_compute_stop_after="rack")
    assert proc.returncode != 0
    assert "stackhop_compute_stop_after is 'rack'; set it to canary" in " ".join(proc.stdout.split())
    assert [p for p in plays if p[0] == BATCHES] == []
