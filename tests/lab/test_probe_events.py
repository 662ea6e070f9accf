"""The data-plane probe's events (lab/roles/lab_probe/files/probe.py, issue 21 item 6): every
lost ICMP request and every gap over 50 ms placed in wall-clock time, bounded in number.

The counters are driven directly with a fake monotonic clock (no network); the real
packets are counted by tests/lab/test_lab_region.py::test_probe_counts_loss_and_gaps.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "lab" / "roles" / "lab_probe" / "files" / "probe.py"


@pytest.fixture
def probe(monkeypatch):
    spec = importlib.util.spec_from_file_location("stackhop_probe", PROBE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clock = {"t": 1000.0}
    monkeypatch.setattr(module, "now", lambda: clock["t"])
    # wall clock = monotonic + 1_800_000_000 exactly
    monkeypatch.setattr(module.time, "time", lambda: clock["t"] + 1_800_000_000.0)
    module.clock = clock
    return module


def _ping(stats, seq, t, rtt=0.001):
    stats.icmp_sent(seq, t)
    if rtt is not None:
        stats.icmp_reply(seq, t + rtt)


def test_losses_and_gaps_are_events_in_wall_clock_time(probe):
    stats = probe.Stats()
    t = 1000.0
    for seq in range(1, 11):                      # 10 answered at 250/s
        _ping(stats, seq, t)
        t += 0.004
    lost_at = t
    for seq in range(11, 41):                     # 30 lost (120 ms outage)
        _ping(stats, seq, t, rtt=None)
        t += 0.004
    for seq in range(41, 51):
        _ping(stats, seq, t)
        t += 0.004
    probe.clock["t"] = t + 2                      # past LOSS_AFTER: the 30 retire
    snap = stats.snapshot()
    icmp = snap["icmp"]
    assert (icmp["sent"], icmp["replied"], icmp["lost"]) == (50, 20, 30)
    losses = [e for e in icmp["events"] if e["kind"] == "loss"]
    gaps = [e for e in icmp["events"] if e["kind"] == "gap" and not e.get("open")]
    assert icmp["events"][-1]["open"] is True           # 2 s without a reply since
    assert len(losses) == 30 and [e["seq"] for e in losses] == list(range(11, 41))
    assert losses[0]["start"] == round(1_800_000_000.0 + lost_at, 3)
    assert losses[0]["end"] == losses[0]["start"] and losses[0]["n"] == 11
    # one closed gap: from the 10th reply to the 41st
    assert len(gaps) == 1
    assert gaps[0]["ms"] == pytest.approx(124.0, abs=0.2)
    assert gaps[0]["start"] == round(1_800_000_000.0 + 1000.0 + 9 * 0.004 + 0.001, 3)
    assert icmp["longest_gap_ms"] >= gaps[0]["ms"]
    assert icmp["events_dropped"] == {}
    assert [e["start"] for e in icmp["events"]] == sorted(e["start"] for e in icmp["events"])


def test_short_gaps_are_not_events(probe):
    stats = probe.Stats()
    t = 1000.0
    for seq in range(1, 20):
        _ping(stats, seq, t)
        t += 0.045                                # 45 ms apart: under 50 ms
    probe.clock["t"] = t
    snap = stats.snapshot()
    assert snap["icmp"]["events"] == [] and snap["icmp"]["lost"] == 0
    assert snap["gap_event_ms"] == 50.0


def test_events_are_bounded_and_the_rest_counted(probe):
    stats = probe.Stats(max_events=5)
    t = 1000.0
    for seq in range(1, 21):
        _ping(stats, seq, t, rtt=None)
        t += 0.004
    probe.clock["t"] = t + 2
    icmp = stats.snapshot()["icmp"]
    assert icmp["lost"] == 20
    losses = [e for e in icmp["events"] if e["kind"] == "loss"]
    assert [e["seq"] for e in losses] == [1, 2, 3, 4, 5]   # the first ones
    assert icmp["events_dropped"] == {"loss": 15}


def test_an_open_gap_shows_while_it_lasts(probe):
    stats = probe.Stats()
    _ping(stats, 1, 1000.0)
    probe.clock["t"] = 1000.301
    icmp = stats.snapshot()["icmp"]
    assert icmp["events"] == [{"kind": "gap", "start": 1_800_001_000.001,
                               "end": 1_800_001_000.301, "ms": 300.0, "open": True}]
    # not kept: once replies resume, the closed gap replaces it
    _ping(stats, 2, 1000.301)
    icmp = stats.snapshot()["icmp"]
    assert [e.get("open", False) for e in icmp["events"]] == [False]


def test_tcp_stalls_and_resets(probe):
    stats = probe.Stats()
    stats.tcp_echoed(1, 1000.005)
    stats.tcp_echoed(1, 1000.010)
    stats.tcp_reset(1000.020, "Connection reset by peer")
    stats.tcp_echoed(1, 1000.510)                 # 500 ms without an echo
    probe.clock["t"] = 1000.511
    tcp = stats.snapshot()["tcp"]
    assert tcp["resets"] == 1 and tcp["records_echoed"] == 3
    kinds = [(e["kind"], e["ms"]) for e in tcp["events"]]
    assert kinds == [("gap", 500.0), ("reset", 0.0)]
    assert tcp["events"][1]["reason"] == "Connection reset by peer"
    assert tcp["longest_gap_ms"] == 500.0


def test_reset_forgets_events(probe):
    stats = probe.Stats()
    _ping(stats, 1, 1000.0, rtt=None)
    probe.clock["t"] = 1002.0
    assert stats.snapshot()["icmp"]["lost"] == 1
    stats.reset()
    snap = stats.snapshot()
    assert snap["icmp"]["events"] == [] and snap["icmp"]["lost"] == 0
