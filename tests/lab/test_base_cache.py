"""The cached base: built once per machine under a lock, trusted only with its marker.

debootstrap itself is replaced by a stand-in script here (the real build takes ~55 s and
is exercised by every other lab test through the ``lab_base`` fixture); what is under test
is labctl's lock, marker and rebuild logic, run in real concurrent processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lib.ansible_runner import REPO

FAKE_DEBOOTSTRAP = """#!/bin/sh
# stand-in: record the call, take a while, leave the tree the post-processing expects
echo "$@" >> "$CALLS"
sleep 1
target=$4  # --variant --include SUITE TARGET MIRROR
mkdir -p "$target/etc/apt/apt.conf.d" "$target/usr/sbin" "$target/etc/ssh/sshd_config.d" \\
         "$target/var/cache/apt/archives"
"""

BUILD = "import sys; sys.path.insert(0, %r); from lab.labctl import ensure_base; " \
        "print(ensure_base())" % str(REPO)


@pytest.fixture()
def fake_env(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "debootstrap"
    fake.write_text(FAKE_DEBOOTSTRAP)
    fake.chmod(0o755)
    return dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]),
                STACKHOP_LAB_CACHE=str(tmp_path / "cache"), CALLS=str(tmp_path / "calls"))


def build(env):
    return subprocess.Popen([sys.executable, "-c", BUILD], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_concurrent_builds_run_debootstrap_once(fake_env, tmp_path):
    procs = [build(fake_env) for _proc in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    paths = {out.strip() for out, _err in outs}
    assert len(paths) == 1
    base = Path(paths.pop())
    assert (base / ".stackhop-complete").exists()
    assert len((tmp_path / "calls").read_text().splitlines()) == 1
    assert "--variant=minbase" in (tmp_path / "calls").read_text()
    assert (base / "usr/sbin/policy-rc.d").read_text().endswith("exit 101\n")


def test_a_base_without_marker_is_rebuilt(fake_env, tmp_path):
    first = build(fake_env)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    base = Path(out.strip())
    (base / ".stackhop-complete").unlink()  # as if the build had been interrupted
    (base / "half-written").write_text("x")
    again = build(fake_env)
    out2, err2 = again.communicate(timeout=60)
    assert again.returncode == 0, err2
    assert out2.strip() == str(base)
    assert not (base / "half-written").exists()
    assert len((tmp_path / "calls").read_text().splitlines()) == 2
