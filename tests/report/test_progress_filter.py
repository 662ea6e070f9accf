"""The upgrade_progress and az_hosts filters inside a real play."""

from __future__ import annotations

import json

from tests.report.conftest import play


def test_filters_in_a_play(tmp_path):
    rehearsal = tmp_path / "rehearsal.json"
    rehearsal.write_text(json.dumps({"phases": [
        {"host": "rep-compute1", "az": "az1", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"},
        {"host": "rep-compute2", "az": "az1", "start": "2026-01-01T00:00:30Z", "end": "2026-01-01T00:02:00Z"}]}))
    proc = play("progress.yml", tmp_path / "report", {"rep_rehearsal": str(rehearsal)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "az1: 1/2 hosts done, about 1m00s left (from the rehearsal)" in proc.stdout
    assert "az2: 0/2 hosts done, about 2m00s left (from the rehearsal)" in proc.stdout
    assert "TOTAL 1/4 eta=20" in proc.stdout
