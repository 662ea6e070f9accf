"""tests/lib/argv_sampler.py: a real process with a fake secret in its argv is caught,
by polling and by exec events (processes far shorter than the polling pass too), none is
reported when the secret is absent, and the lab's secrets load as leaf strings."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.lib import argv_sampler
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets, load_secrets

FAKE = "fake-s3cret-%d" % time.monotonic_ns()


def _sleeper(*args, seconds=0.6):
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(%s)" % seconds]
                            + list(args))


def test_a_process_with_a_secret_in_its_argv_is_caught():
    with ArgvSampler({"test.secret": FAKE, "other": "never-used-value"}, interval=0.03,
                     events=False) as sampler:
        proc = _sleeper("--password=" + FAKE)
        proc.wait()
        time.sleep(0.1)
    assert sampler.samples >= 5
    hits = [h for h in sampler.hits if h[0] == proc.pid]
    assert len(hits) == 1, sampler.hits     # one record per distinct (pid, argv, key)
    pid, argv, key = hits[0]
    assert key == "test.secret"
    assert argv[-1] == "--password=<secret:test.secret>"
    assert FAKE not in repr(sampler.report())


@pytest.mark.needs_root  # the kernel's process events connector
def test_every_short_process_is_read_on_its_exec():
    # one pass at the start, the next in an hour: what is caught was read on its exec
    with ArgvSampler({"s": FAKE}, interval=3600) as sampler:
        assert sampler.mode == "exec events", "no process events connector as root: %s" % sampler.report()
        procs = [subprocess.Popen(["sh", "-c", "sleep 0.05; true", "sh", "--token=" + FAKE])
                 for _i in range(10)]
        for proc in procs:
            proc.wait()
        time.sleep(0.3)
    assert sampler.samples == 1 and sampler.execs_read >= 10, sampler.report()
    assert sorted(h[0] for h in sampler.hits) == sorted(p.pid for p in procs), sampler.report()
    assert sampler.report()["mode"] == "exec events"


def test_the_programs_named_are_kept_whatever_their_argv():
    # other sleeps on the machine are kept too: only this test's processes are looked at
    with ArgvSampler({"s": FAKE}, programs=("sleep",)) as sampler:
        kept = subprocess.Popen(["sleep", "0.2"])
        other = subprocess.Popen(["true"])
        kept.wait()
        other.wait()
        time.sleep(0.1)
    mine = {pid: argv for pid, argv in sampler.program_argvs if pid in (kept.pid, other.pid)}
    assert mine == {kept.pid: ["sleep", "0.2"]}, sampler.report()
    assert "sleep" in sampler.programs_seen()


def test_the_connector_datagram_is_parsed():
    exec_event = (argv_sampler.PROC_EVENT.pack(argv_sampler.PROC_EVENT_EXEC, 0, 1)
                  + argv_sampler.EXEC_EVENT.pack(4242, 4241))
    fork_event = argv_sampler.PROC_EVENT.pack(1, 0, 1) + argv_sampler.EXEC_EVENT.pack(7, 7)

    def message(event):
        body = argv_sampler.CN_MSG.pack(1, 1, 0, 0, len(event), 0) + event
        return argv_sampler.NLMSG_HDR.pack(16 + len(body), 3, 0, 0, 0) + body
    assert argv_sampler.exec_pids(message(exec_event) + message(fork_event)
                                  + message(exec_event)) == [4241, 4241]
    assert argv_sampler.exec_pids(b"") == [] and argv_sampler.exec_pids(b"\0" * 20) == []


def test_nothing_is_reported_when_the_secret_is_absent():
    with ArgvSampler([FAKE], interval=0.03) as sampler:
        _sleeper("--password-file=/dev/null", seconds=0.3).wait()
    assert sampler.samples >= 3
    assert sampler.processes_seen > sampler.samples   # it did read other processes
    assert sampler.hits == []


def test_the_longest_secret_is_masked_whole():
    sampler = ArgvSampler({"short": "abcdef", "long": "abcdefghij"})
    assert sampler.mask(["x=abcdefghij", "abcdef"]) == ["x=<secret:long>", "<secret:short>"]


def test_load_secrets_takes_every_leaf_string_of_six_characters_or_more(tmp_path):
    path = tmp_path / "secrets.yml"
    path.write_text("a: {b: long-enough, c: short, d: [item-one, 123456]}\ne: top-level\n")
    assert load_secrets(path) == {"a.b": "long-enough", "a.d[0]": "item-one",
                                  "e": "top-level"}


def test_the_lab_secrets_load():
    secrets = load_lab_secrets()
    assert secrets["stackhop_admin_password"] == "lab-admin-pw"
    assert secrets["stackhop_db_passwords.nova"] == "lab-nova-db"
    assert len(secrets) >= 13


def test_with_a_lab_only_its_processes_make_hits(tmp_path):
    # a process naming the lab's state dir (as the controller's ssh does) is the lab's;
    # one in no lab namespace is another's (another lab deployed on the same machine)
    netns = tmp_path / "netns"
    netns.mkdir()
    with ArgvSampler({"s": FAKE}, lab="lbx", state_root=str(tmp_path),
                     netns_dir=str(netns)) as sampler:
        ours = _sleeper("-o", "IdentityFile=%s/lbx/id_ed25519" % tmp_path, FAKE)
        theirs = _sleeper("-o", "IdentityFile=%s/other/id_ed25519" % tmp_path, FAKE)
        ours.wait()
        theirs.wait()
    assert [h[0] for h in sampler.hits] == [ours.pid]
    assert [h[0] for h in sampler.foreign_hits] == [theirs.pid]
    assert sampler.report()["foreign_hits"][0]["secret"] == "s"
