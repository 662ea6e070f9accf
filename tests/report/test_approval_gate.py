"""The approval_gate role through real ansible-playbook runs: auto, variable, file, terminal, expiry."""

from __future__ import annotations

import json
import os
import pty
import select
import threading
import time

from tests.lib.ansible_runner import VENV, ansible_env
from tests.report.conftest import INVENTORY, PLAYBOOKS, load, play, report_env


def gate(report_dir, **extra_vars):
    return play("gate.yml", report_dir, extra_vars or None, timeout=300)


def test_auto_approves_without_asking(tmp_path):
    proc = gate(tmp_path, stackhop_approval="auto")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "AFTER GATE approved_by=stackhop_approval=auto" in proc.stdout
    report = load(tmp_path / "report.json")
    gates = [p for p in report["phases"] if p["phase"] == "approval"]
    assert [(g["component"], g["failed"]) for g in gates] == [("az1-canary", False)]


def test_gate_approved_in_advance_by_variable(tmp_path):
    proc = gate(tmp_path, stackhop_approved_gates=["other", "az1-canary"], stackhop_approval="file")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "AFTER GATE approved_by=stackhop_approved_gates" in proc.stdout


def test_expiry_stops_the_run_cleanly_with_a_clear_message(tmp_path):
    started = time.time()
    proc = gate(tmp_path, stackhop_approval="file", stackhop_approval_timeout=3)   # waits for a file
    took = time.time() - started
    assert proc.returncode != 0
    assert "approval gate az1-canary expired after 3s without an answer; the upgrade stops " \
           "cleanly here and nothing after the gate ran" in " ".join(proc.stdout.split())
    assert "%s/approvals/az1-canary.approved" % tmp_path in proc.stdout
    assert "AFTER GATE" not in proc.stdout
    assert took < 60
    # every host stopped (any_errors_fatal) and the report shows the failed gate
    report = load(tmp_path / "report.json")
    assert report["status"] == "failed"
    assert [(p["phase"], p["component"], p["failed"]) for p in report["phases"]] == \
        [("approval", "az1-canary", True)]


def test_no_terminal_fails_at_once_and_says_how_to_approve(tmp_path):
    started = time.time()
    proc = gate(tmp_path)        # prompt (the default), stdin is no terminal, no approval given
    took = time.time() - started
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "approval gate az1-canary cannot ask anyone because stdin is not a terminal" in text
    assert "-e stackhop_approval=auto" in text and "-e stackhop_approval=file" in text
    assert "%s/approvals/az1-canary.approved" % tmp_path in text
    assert "AFTER GATE" not in proc.stdout
    assert took < 60          # the gate's default timeout is two hours: it did not wait
    report = load(tmp_path / "report.json")
    assert [(p["phase"], p["component"], p["failed"]) for p in report["phases"]] == \
        [("approval", "az1-canary", True)]


def _approve_later(path, delay):
    time.sleep(delay)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("approved by the test\n")


def test_approval_file_lets_the_run_go_on(tmp_path):
    approval = tmp_path / "approvals" / "az1-canary.approved"
    thread = threading.Thread(target=_approve_later, args=(approval, 4))
    thread.start()
    proc = gate(tmp_path, stackhop_approval="file", stackhop_approval_timeout=120)
    thread.join()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "AFTER GATE approved_by=file %s" % approval in proc.stdout


def test_rejection_file_stops_the_run(tmp_path):
    (tmp_path / "approvals").mkdir()
    (tmp_path / "approvals" / "az1-canary.rejected").write_text("no\n")
    proc = gate(tmp_path, stackhop_approval_timeout=60)
    assert proc.returncode != 0
    assert "approval gate az1-canary was rejected by" in proc.stdout
    assert "AFTER GATE" not in proc.stdout


def _run_on_terminal(argv, env, answer, timeout=180):
    """Run argv on a new pseudo-terminal; type ``answer`` when the gate asks; return (rc, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # child: its own session with the pty as controlling terminal
        os.chdir(str(PLAYBOOKS.parents[2]))
        os.execve(argv[0], argv, env)
    out, answered, deadline = b"", False, time.time() + timeout
    try:
        while time.time() < deadline:
            ready, dummy, dummy2 = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and b"Type yes to continue" in out:
                time.sleep(0.5)
                os.write(fd, answer.encode() + b"\r")
                answered = True
    finally:
        try:
            dummy, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def _terminal_argv_env(tmp_path):
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(INVENTORY), str(PLAYBOOKS / "gate.yml"),
            "-e", json.dumps({"stackhop_approval_timeout": 120})]
    env = ansible_env(report_env(tmp_path))
    return argv, env


def test_operator_approves_at_the_terminal(tmp_path):
    argv, env = _terminal_argv_env(tmp_path)
    rc, out = _run_on_terminal(argv, env, "yes")
    assert rc == 0, out[-3000:]
    assert "[stackhop approval] The canary of az1 is upgraded. Upgrade the rest of az1?" in out
    assert "AFTER GATE approved_by=operator at the prompt" in out


def test_operator_rejects_at_the_terminal(tmp_path):
    argv, env = _terminal_argv_env(tmp_path)
    rc, out = _run_on_terminal(argv, env, "no")
    assert rc != 0
    assert "approval gate az1-canary was rejected at the prompt" in out
    assert "AFTER GATE" not in out


def test_awx_terminal_is_nobody_at_a_terminal(tmp_path):
    """ansible-runner gives ansible-playbook a pseudo-terminal nobody types into: fail at once."""
    argv, env = _terminal_argv_env(tmp_path)
    env["AWX_ISOLATED_DATA_DIR"] = str(tmp_path / "artifacts")
    started = time.time()
    rc, out = _run_on_terminal(argv, env, "yes", timeout=90)
    assert rc != 0
    assert "Type yes to continue" not in out
    assert "approval gate az1-canary cannot ask anyone because it runs under ansible-runner" \
        in " ".join(out.split())
    assert time.time() - started < 60


def test_role_refuses_a_missing_gate_name(tmp_path):
    proc = play("gate.yml", tmp_path, {"approval_gate_name": "", "stackhop_approval": "auto"})
    assert proc.returncode != 0
    assert "approval gate name '' cannot name the approval files; set approval_gate_name" in proc.stdout
    assert "AFTER GATE" not in proc.stdout


def test_timeout_below_one_second_is_refused(tmp_path):
    proc = gate(tmp_path, stackhop_approval_timeout=0)
    assert proc.returncode != 0
    assert "approval gate az1-canary has timeout 0; set stackhop_approval_timeout to 1 second or more" \
        in proc.stdout
