"""collections/requirements.yml, which AWX installs after a project sync (from the project's
root): it parses, installs this collection from the checkout itself and names every dependency
of galaxy.yml with the same version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def entries():
    data = yaml.safe_load((REPO / "collections" / "requirements.yml").read_text())
    assert set(data) == {"collections"}, "collections/requirements.yml has only a collections list"
    return data["collections"]


def test_it_installs_this_collection_from_the_repository():
    self_entries = [e for e in entries() if e["name"] == "stackhop.upgrade"]
    assert self_entries == [{"name": "stackhop.upgrade", "type": "dir", "source": "."}]
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("stackhop", "upgrade")


def test_it_names_every_dependency_of_galaxy_yml_with_its_version():
    deps = yaml.safe_load((REPO / "galaxy.yml").read_text())["dependencies"]
    listed = {e["name"]: e.get("version", "*") for e in entries() if e["name"] != "stackhop.upgrade"}
    assert listed == deps


def test_ansible_galaxy_installs_the_collection_from_the_project_root(tmp_path):
    """What AWX's project update runs, for this collection's entry (the others need Galaxy)."""
    req = tmp_path / "requirements.yml"
    req.write_text(yaml.safe_dump({"collections": [e for e in entries() if e.get("type") == "dir"]}))
    dest = tmp_path / "collections"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest))
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    proc = subprocess.run([str(galaxy), "collection", "install", "-r", str(req), "--no-deps",
                           "-p", str(dest)], cwd=str(REPO), env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = dest / "ansible_collections" / "stackhop" / "upgrade"
    assert (installed / "MANIFEST.json").is_file()
    assert (installed / "roles" / "approval_gate" / "tasks" / "main.yml").is_file()
