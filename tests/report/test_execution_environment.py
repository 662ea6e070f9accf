"""execution-environment.yml: ansible-builder creates the build context (no container engine here).

Building the image (`ansible-builder build`) needs podman or docker, which this machine
lacks; the test stops at `ansible-builder create` and ansible-builder's own introspection.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.lib.ansible_runner import REPO, VENV


def names(path):
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(re.split(r"[\s<>=!~\[;]", line, maxsplit=1)[0].lower())
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    dest = tmp_path_factory.mktemp("rep-ee") / "context"
    proc = subprocess.run([str(VENV / "bin" / "ansible-builder"), "create", "-f",
                           str(REPO / "execution-environment.yml"), "-c", str(dest)],
                          capture_output=True, text=True, cwd=str(REPO), timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def test_build_context_has_the_collection_needs(context):
    dockerfile = (context / "Dockerfile").read_text()
    assert 'ARG PYCMD="/usr/bin/python3.11"' in dockerfile
    assert "quay.io/centos/centos:stream9" in dockerfile
    assert "ansible-core>=2.19,<2.20" in dockerfile
    assert set(names(context / "_build" / "requirements.txt")) == {"openstacksdk", "pymysql", "netaddr", "jmespath", "uv"}
    assert (context / "_build" / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    galaxy = (context / "_build" / "requirements.yml").read_text()
    for name in ("openstack.cloud", "community.mysql", "ansible.posix", "community.general", "ansible.utils"):
        assert name in galaxy


def test_ee_python_needs_are_a_subset_of_requirements_txt():
    ee = set(names(REPO / "meta" / "ee-requirements.txt"))
    assert ee <= set(names(REPO / "requirements.txt"))
    assert not ee & {"pytest", "molecule", "ansible-lint", "pytest-testinfra"}


def test_bindep_covers_every_apt_package():
    apt = set(names(REPO / "scripts" / "apt-packages.txt"))
    dpkg = set()
    for line in (REPO / "bindep.txt").read_text().splitlines():
        if "platform:dpkg" in line:
            dpkg.add(line.split()[0])
    assert apt <= dpkg, "add to bindep.txt: %s" % sorted(apt - dpkg)


def test_bindep_profiles(context):
    bindep = str(VENV / "bin" / "bindep")
    runtime = subprocess.run([bindep, "-f", str(REPO / "bindep.txt"), "-l", "newline"],
                             capture_output=True, text=True, check=False).stdout.split()
    assert set(runtime) == {"openssh-client", "rsync", "git", "iputils-ping"}   # this host is dpkg
    test = subprocess.run([bindep, "-f", str(REPO / "bindep.txt"), "-l", "newline", "test"],
                          capture_output=True, text=True, check=False).stdout.split()
    assert "chromium" in test and "openvswitch-switch" in test


def test_ansible_builder_introspection_finds_the_collection(context):
    proc = subprocess.run([str(VENV / "bin" / "python"), str(context / "_build" / "scripts" / "introspect.py"),
                           "introspect", str(REPO / "build" / "collections")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "openstacksdk>=1.0.0,<4.15  # from collection stackhop.upgrade" in proc.stdout
    assert "openssh-clients [platform:rpm]  # from collection stackhop.upgrade" in proc.stdout
