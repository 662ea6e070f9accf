"""roles/rollback/files/units.py: units that run another release's venv point at N's again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

UNITS = Path(__file__).resolve().parents[2] / "roles" / "rollback" / "files" / "units.py"
ROOT = "/opt/stackhop/venvs"


def _unit(path, venv, program="bin/nova-conductor"):
    path.write_text("[Unit]\nDescription=nova (stackhop, %s)\n[Service]\nEnvironment=PATH=%s/%s/bin:/usr/bin\n"
                    "ExecStart=%s/%s/%s --config-file /etc/nova/nova.conf\n" % (venv, ROOT, venv, ROOT, venv, program))


def _run(tmp_path, *units, check=False, to="2024.1"):
    argv = [sys.executable, str(UNITS), "--venv-root", ROOT, "--to-release", to,
            "--unit-dir", str(tmp_path)] + (["--check"] if check else []) + list(units)
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def test_target_and_intermediate_releases_are_pointed_back(tmp_path):
    _unit(tmp_path / "nova-conductor.service", "2025.2")
    _unit(tmp_path / "neutron-dhcp-agent.service", "2025.1")
    _unit(tmp_path / "keystone.service", "2024.1")
    before = (tmp_path / "nova-conductor.service").read_text()
    out = _run(tmp_path, "nova-conductor", "neutron-dhcp-agent", "keystone", "cinder-volume", check=True)
    assert (tmp_path / "nova-conductor.service").read_text() == before, "--check wrote"
    assert out["nova-conductor"]["rewritten"] and out["nova-conductor"]["rewritten_from"] == ["2025.2"]
    assert out["nova-conductor"]["venv"] == ROOT + "/2024.1"
    out = _run(tmp_path, "nova-conductor", "neutron-dhcp-agent", "keystone", "cinder-volume")
    text = (tmp_path / "nova-conductor.service").read_text()
    assert "2025.2" not in text and text.count(ROOT + "/2024.1/") == 2
    assert "Description=nova (stackhop, 2024.1)" in text
    assert out["neutron-dhcp-agent"]["rewritten_from"] == ["2025.1"]
    assert out["keystone"] == {"exists": True, "rewritten": False, "rewritten_from": [],
                               "venv": ROOT + "/2024.1", "exec": ROOT + "/2024.1/bin/nova-conductor",
                               "exec_exists": Path(ROOT + "/2024.1/bin/nova-conductor").exists()}
    assert out["cinder-volume"] == {"exists": False}
    again = _run(tmp_path, "nova-conductor", "neutron-dhcp-agent")
    assert not again["nova-conductor"]["rewritten"] and not again["neutron-dhcp-agent"]["rewritten"]


def test_a_program_only_the_newer_release_has_is_reported_missing(tmp_path):
    _unit(tmp_path / "neutron-rpc-server.service", "2025.2", "bin/neutron-rpc-server-does-not-exist")
    out = _run(tmp_path, "neutron-rpc-server")
    assert out["neutron-rpc-server"]["rewritten"] and not out["neutron-rpc-server"]["exec_exists"]
