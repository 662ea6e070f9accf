"""stackhop.upgrade.nova_compute_versions with a real nova 2024.1 on a real MariaDB: what nova's
TooOldComputeService check reads, and which computes it names.

The cells are mapped by stackhop.upgrade.nova_cell_v2; compute services are rows whose
version is set as a zed (64) or 2023.1 (66) nova-compute records it."""

from __future__ import annotations

import subprocess

import pytest

from tests.lib.ansible_runner import run_module
from tests.nova.conftest import assert_no_secret

pytestmark = [pytest.mark.needs_root]

ZED, ANTELOPE = 64, 66  # nova's SERVICE_VERSION_ALIASES


@pytest.fixture
def cells(nova_env, nova_schema):
    env = nova_env
    # cell0 holds the cell schema too (nova-manage db sync would make it; the dump is faster)
    with open(nova_schema["cell"]) as dump:
        subprocess.run(["mariadb", "--socket=%s" % env.db.socket, "-uroot", env.cell0_db],
                       stdin=dump, check=True)
    env.add_computes(["cmp1", "cmp2", "cmp3"])
    mapped = run_module("nova_cell_v2", env.args())
    assert not mapped.failed, mapped.get("msg")
    return env


def versions(env, check=False, **args):
    params = {"python": str(env.venv / "bin" / "python"), "config_files": [str(env.conf)]}
    params.update(args)
    result = run_module("nova_compute_versions", params, check=check)
    assert_no_secret(result)
    return result


def set_version(env, host, version, forced_down=0):
    env.db.sql("UPDATE services SET version = %s, forced_down = %s WHERE host = %s",
               env.cell_db, (version, forced_down, host))


def test_a_zed_compute_is_too_old_for_2024_1_and_named(cells):
    set_version(cells, "cmp2", ZED)
    res = versions(cells)
    assert not res.failed, res.get("msg")
    assert res["changed"] is False
    assert res["too_old"] is True
    assert res["minimum_version"] == ZED
    assert res["oldest_supported"] == {"name": "Antelope", "version": ANTELOPE}
    assert res["older_computes"] == [{"cell": "cell1", "host": "cmp2", "version": ZED}]
    assert [c["host"] for c in res["computes"]] == ["cmp1", "cmp2", "cmp3"]
    assert res["cells_not_responding"] == []
    assert "cmp2 (cell1, version 64)" in res["message"]
    assert "disable_compute_service_check_for_ffu" in res["message"]
    assert res["executed_commands"] == ["%s -I - --config-file %s" % (cells.venv / "bin" / "python", cells.conf)]
    # read-only: check mode gives the same answer
    assert versions(cells, check=True)["too_old"] is True


def test_every_compute_new_enough(cells):
    res = versions(cells)
    assert res["too_old"] is False and res["older_computes"] == []
    assert res["minimum_version"] == ANTELOPE
    assert res["message"].startswith("every nova-compute service is Antelope (version 66) or newer")


def test_a_forced_down_compute_is_not_counted_as_nova_does(cells):
    set_version(cells, "cmp3", ZED, forced_down=1)
    res = versions(cells)
    assert res["too_old"] is False and res["older_computes"] == []
    assert [c["forced_down"] for c in res["computes"]] == [False, False, True]


def test_an_older_release_asked_for(cells):
    set_version(cells, "cmp2", ZED)
    res = versions(cells, oldest_supported="Zed")
    assert res["too_old"] is False
    assert res["oldest_supported"] == {"name": "Zed", "version": ZED}


def test_an_unknown_release_fails_with_one_sentence(cells):
    res = versions(cells, oldest_supported="Zanzibar")
    assert res.failed
    assert res["msg"].startswith("nova's code knows no release 'Zanzibar' among its service versions (")
    assert res["msg"].endswith("give oldest_supported as one of them")


def test_a_wrong_database_password_fails_without_leaking_it(cells, tmp_path):
    bad = tmp_path / "bad-nova.conf"
    bad.write_text(cells.conf.read_text().replace("ncDbPw-7Gq2xLw9", "wrong-Pw-8812"))
    bad.chmod(0o600)
    res = versions(cells, config_files=[str(bad)])
    assert res.failed
    assert res["msg"].startswith("nova's code under %s could not read the compute services (exit 1: "
                                 % (cells.venv / "bin" / "python"))
    assert "check nova's database connections in %s" % bad in res["msg"]
    assert "wrong-Pw-8812" not in res.stdout + res.stderr


def test_a_missing_config_file_fails_before_running(cells, tmp_path):
    res = versions(cells, config_files=[str(tmp_path / "none.conf")])
    assert res.failed
    assert res["msg"].endswith("give nova's configuration files in config_files")
    assert res["executed_commands"] == []
