"""The built collection holds runtime code and docs only: no lab (its roles, playbooks,
inventory, secrets, labctl.py), no tests, benchmarks, molecule scenarios or scripts, and
no file of it names a lab role, the lab's collection or the lab's clouds.yaml entry."""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from tests.lib.ansible_runner import REPO, VENV

OUT_OF_THE_TARBALL = ("lab/", "tests/", "bench/", "molecule/", "scripts/", ".ci/", "collections/",
                      "build/")
RUNTIME_DIRS = ("roles/", "playbooks/", "plugins/", "meta/", "inventories/")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("tarball")
    subprocess.run([str(VENV / "bin" / "ansible-galaxy"), "collection", "build", "--output-path",
                    str(out), str(REPO)], check=True, capture_output=True, text=True, timeout=300)
    (path,) = out.glob("stackhop-upgrade-*.tar.gz")
    return path


def test_the_tarball_holds_no_lab_tests_or_bench(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "plugins/modules" in {n.rsplit("/", 1)[0] for n in names}
    assert [n for n in names if n.startswith(OUT_OF_THE_TARBALL)] == []
    assert [n for n in names if "/lab_" in n or n.endswith("secrets.yml") or "labctl" in n] == []
    assert "ansible.cfg" not in names
    print("\n%s: %d bytes, %d members" % (tarball.name, tarball.stat().st_size, len(names)))


def test_no_runtime_file_reaches_into_the_lab(tarball):
    """The lab's collection, roles and clouds.yaml entry appear in no role, playbook or
    plugin (docs may describe the lab)."""
    hits = []
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(RUNTIME_DIRS):
                continue
            text = tar.extractfile(member).read().decode(errors="replace")
            for needle in ("stackhop.lab.", "lab-admin", "lab/inventory", "labctl"):
                if needle in text:
                    hits.append((member.name, needle))
    assert hits == []
