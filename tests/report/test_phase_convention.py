"""Every way of the phase convention (docs/report.md) is recognised by the callback."""

from __future__ import annotations

from tests.report.conftest import PLAYBOOKS, load, play


def test_vars_role_params_includes_tags_and_play_vars(tmp_path):
    proc = play("convention.yml", tmp_path, ANSIBLE_ROLES_PATH=str(PLAYBOOKS / "roles"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    phases = [(p["phase"], p["component"]) for p in load(tmp_path / "report.json")["phases"]]
    assert phases == [
        ("upgrade", "nova"),            # roles: entry with role parameters
        ("backup", "nova_upgrade"),     # include_role vars; component from the role name
        ("stop", "nova-compute"),       # import_role vars
        ("verify", "plain"),            # phase from a tag
        ("migrate", "db"),              # play vars
    ]
