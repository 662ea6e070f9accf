"""bench/bench_fleet.py's and bench/bench_agent_restarts.py's own logic, without a lab (issue 21
parts 2 and 3): timings from a report.json, the counting tools, ratios, table and fit."""

from __future__ import annotations

import json
import subprocess

import pytest

from bench import bench_agent_restarts as bar
from bench import bench_fleet as bf


def phase(host, name, component, start, end, tasks):
    return {"host": host, "phase": name, "component": component, "tasks": tasks,
            "start": "2025-06-01T12:%02d:%02dZ" % divmod(start, 60),
            "end": "2025-06-01T12:%02d:%02dZ" % divmod(end, 60), "duration_s": float(end - start)}


REPORT = {"phases": [
    phase("localhost", "preflight", "nova", 0, 4, 6),
    phase("cmp1", "upgrade", "openstack", 5, 15, 12),
    phase("cmp1", "start", "neutron", 15, 20, 8),
    phase("cmp1", "verify", "neutron", 20, 50, 3),
    phase("cmp1", "done", "compute", 50, 51, 2),
    phase("cmp2", "upgrade", "openstack", 5, 13, 12),
    phase("cmp2", "verify", "neutron", 20, 40, 3),
]}


def test_report_timings_per_compute_and_part():
    out = bf.report_timings(REPORT, {"cmp1", "cmp2"})
    assert out["host_tasks"] == 46
    assert out["compute_span_s"] == {"cmp1": 46.0, "cmp2": 35.0}
    assert out["per_host_parts_s"][:2] == [("verify neutron", 25.0), ("upgrade openstack", 9.0)]
    assert bf.report_timings({}, {"cmp1"}) == {"host_tasks": 0, "compute_span_s": {}, "per_host_parts_s": []}


def test_counting_tools_log_each_ssh_command(tmp_path):
    ssh, proxy, logs = bf.counting_tools(tmp_path, "fleet-sw")
    assert proxy == "%s %%h %%p" % (tmp_path / "proxy")
    assert "exec ip netns exec fleet-sw socat STDIO" in (tmp_path / "proxy").read_text()
    for _run in range(2):
        subprocess.run([ssh, "-V"], capture_output=True, check=False)
    assert bf.count_lines(logs["ssh"]) == 2 and bf.count_lines(logs["connections"]) == 0


def test_connection_vars_and_variants(tmp_path):
    class Lab:
        key = tmp_path / "id_ed25519"
    cv = bf.connection_vars(Lab, "/t/ssh", "/t/proxy %h %p", tmp_path / "cp1", control_persist=False)
    assert cv["ansible_ssh_args"] == "-o ControlMaster=no"
    assert '-o ProxyCommand="/t/proxy %h %p"' in cv["ansible_ssh_common_args"]
    assert "-o ControlPath=%s/%%C" % (tmp_path / "cp1") in cv["ansible_ssh_common_args"]
    assert bf.variant_settings("forks", 32) == ({"ANSIBLE_FORKS": "32"}, True)
    assert bf.variant_settings("free", 8) == ({"ANSIBLE_STRATEGY": "free"}, True)
    assert bf.variant_settings("no-pipelining", 8) == ({"ANSIBLE_PIPELINING": "False"}, True)
    with pytest.raises(ValueError, match="unknown variant 'fast'"):
        bf.variant_settings("fast", 8)


def row(n, percent, variant, batches, seconds, cpu, conns=40):
    return {"computes": n, "hosts": n, "batch_percent": percent, "variant": variant, "batches": batches,
            "rc": 0, "seconds": seconds, "controller_cpu_s": cpu, "ssh_commands": 900,
            "ssh_connections": conns, "controller_ms_per_host_task": 55.0,
            "compute_span_s": {"cmp1": 70.0, "cmp2": 80.0}}


ROWS = [row(8, 1, "baseline", 8, 8 * 80 + 8 * 4 + 10, 8 * 2 + 8 * 6 + 5),
        row(8, 25, "baseline", 5, 5 * 80 + 8 * 4 + 10, 5 * 2 + 8 * 6 + 5),
        row(8, 25, "free", 5, 400.0, 60.0, conns=20),
        row(2, 25, "baseline", 2, 2 * 80 + 2 * 4 + 10, 2 * 2 + 2 * 6 + 5),
        row(16, 100, "baseline", 8, 8 * 80 + 16 * 4 + 10, 8 * 2 + 16 * 6 + 5)]


def test_ratios_against_the_baseline_of_the_same_size_and_batch():
    free = [r for r in bf.with_ratios(ROWS) if r["variant"] == "free"][0]
    assert free["ratio"] == {"seconds": round(400 / 442, 2), "controller_cpu_s": round(60 / 63, 2),
                             "ssh_connections": 0.5}
    assert bf.with_ratios([row(4, 1, "free", 4, 1, 1)])[0]["ratio"]["seconds"] is None


def test_table_and_the_fitted_model_with_its_ansible_part():
    text = bf.table(ROWS)
    assert text.splitlines()[0].split()[:4] == ["hosts", "batch", "Ansible", "batches"]
    assert "8      25%    free" in text and " 0.5 " in text
    lines = bf.fitted(ROWS)
    assert lines[0] == "cost model (wall, 4 runs, largest error 0.0 %): 10.0 s + 80.0 s per batch + 4.0 s per host"
    assert lines[1] == "Ansible's part (the controller's CPU): 5.0 s + 2.0 s per batch + 6.0 s per host"
    assert lines[2].startswith("the services' part (and waiting on them): 5.0 s + 78.0 s per batch")
    assert json.loads(lines[-1].split(": ", 1)[1]) == {"fixed_s": 10.0, "per_batch_s": 80.0, "per_host_s": 4.0}


def test_restart_play_and_the_restart_table(tmp_path):
    play = json.loads(bar.restart_play(tmp_path / "p.json", 4).read_text())
    task = play[0]["tasks"][0]
    assert play[0]["hosts"] == "stackhop_computes" and task["throttle"] == 4
    assert task["ansible.builtin.systemd_service"] == {"name": "neutron-openvswitch-agent", "state": "restarted"}
    idle = {"play_s": 0.0, "rpc_calls": 120, "rpc_p95_s": 0.02, "heartbeat_age_max_s": 15.2,
            "agents_down": [], "threads_connected_max": 30, "queries_per_s_max": 80.0}
    rows = [dict(idle, throttle=32, play_s=9.0, rpc_p95_s=3.1, heartbeat_age_max_s=80.0, agents_down=["cmp7"],
                 threads_connected_max=70, queries_per_s_max=900.0, vm_lost_excess=0),
            dict(idle, throttle=4, play_s=31.0, rpc_p95_s=0.4, vm_lost_excess=0)]
    text = bar.table(idle, rows).splitlines()
    assert text[2].startswith("idle") and text[2].endswith("none")
    assert "155.0" in text[3] and "rpc_p95_s 3.1 > 1.0; heartbeat_age_max_s 80.0 > 75.0" in text[3]
    assert text[4].split()[:5] == ["4", "31.0", "120", "0.4", "20.0"] and text[4].endswith("none")
