"""upgrade_check reads oslo.upgradecheck exit codes from a real command."""

from __future__ import annotations

import json
import stat

import pytest

SCRIPT = r"""#!/bin/sh
# a stand-in for <service>-status: exits with the code in $RM_RC, prints JSON on --json
for a in "$@"; do
  if [ "$a" = "--json" ]; then
    echo "{\"name\": \"rm-status\", \"checks\": [{\"check\": \"Cells v2\", \"result\": $RM_RC, \"details\": null}]}"
    exit "$RM_RC"
  fi
done
if [ "$RM_RC" = 255 ] && [ -n "$RM_COLUMN" ]; then
  echo 'Observed missing table while performing upgrade version checking.' >&2
  echo "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (1054, \"Unknown column '$RM_COLUMN' in 'SELECT'\")"
  echo '[SQL: SELECT nodes.id FROM nodes]'
  exit 255
fi
if [ "$RM_RC" = 255 ]; then
  echo 'Traceback (most recent call last):' >&2
  echo "TypeError: 'OperationalError' object is not iterable" >&2
  exit 255
fi
echo "+-----------------------+"
echo "| Upgrade Check Results |"
exit "$RM_RC"
"""


@pytest.fixture(scope="module")
def status_cmd(tmp_path_factory):
    path = tmp_path_factory.mktemp("rm-status") / "rm-status"
    path.write_text(SCRIPT)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize("rc,status,words", [
    (0, "ok", "passed"),
    (1, "warning", "preflight_acknowledge: [upgrade_check_rm]"),
    (2, "failure", "fix what the failed checks name"),
    (255, "error", "crashed (exit 255) with TypeError: 'OperationalError' object is not iterable: the target"),
    (3, "error", "not an oslo.upgradecheck code"),
])
def test_exit_codes(ansible_module, status_cmd, rc, status, words):
    res = ansible_module("upgrade_check", {"command": [status_cmd, "upgrade", "check"],
                                           "environment": {"RM_RC": rc}})
    assert not res.failed, res
    assert res["exit_code"] == rc and res["status"] == status
    assert words in res["message"]
    assert res["changed"] is False
    assert res["executed_commands"] == ["%s upgrade check" % status_cmd]


def test_a_check_reading_columns_the_schema_lacks_yet_is_a_warning(ansible_module, status_cmd):
    """ironic-status 2025.1 on a 2024.1 database with nodes: its hardware interface check
    reads nodes.disable_power_off, which only 2025.1's migration adds."""
    res = ansible_module("upgrade_check", {"command": [status_cmd, "upgrade", "check"], "service": "ironic",
                                           "environment": {"RM_RC": 255, "RM_COLUMN": "nodes.disable_power_off"}})
    assert res["exit_code"] == 255 and res["status"] == "warning", res
    assert "reads column nodes.disable_power_off" in res["message"]
    assert res["message"].endswith("preflight_acknowledge: [upgrade_check_ironic] to go on without it.")


def test_json_results(ansible_module, status_cmd):
    res = ansible_module("upgrade_check", {"command": [status_cmd, "upgrade", "check"],
                                           "service": "nova", "json_output": True,
                                           "environment": {"RM_RC": 2}})
    assert res["status"] == "failure"
    assert res["checks"] == [{"check": "Cells v2", "result": "failure", "details": None}]
    assert res["message"].startswith("nova upgrade check failed (exit 2) from: Cells v2:")


def test_runs_in_check_mode(ansible_module, status_cmd):
    res = ansible_module("upgrade_check", {"command": [status_cmd, "upgrade", "check"],
                                           "environment": {"RM_RC": 1}}, check=True)
    assert res["exit_code"] == 1 and res["status"] == "warning"


def test_missing_command(ansible_module):
    res = ansible_module("upgrade_check", {"command": ["/nonexistent/nova-status", "upgrade",
                                                       "check"]})
    assert res.failed
    assert "install the target release's nova first" in res["msg"]
    json.dumps(res)
