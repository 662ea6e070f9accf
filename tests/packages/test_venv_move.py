"""module_utils/venv_move.py: a packaged service's command line moved onto a venv, on the
command lines Debian 12's units really run (read from /proc on a Debian zed host). On a
real host: tests/packages/test_venv_dropin_on_lab_host.py."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import components, venv_move
from ansible_collections.stackhop.upgrade.plugins.module_utils.venv_move import VenvMoveError

VENV = "/opt/stackhop/venvs/2024.1"
BIN = {"nova-conductor", "nova-compute", "uwsgi", "keystone-wsgi-public", "python", "neutron-openvswitch-agent"}


def test_a_console_script_run_by_the_system_python_runs_the_venvs_with_the_same_arguments():
    argv = ["/usr/bin/python3", "/usr/bin/nova-compute", "--config-file=/etc/nova/nova.conf",
            "--config-file=/etc/nova/nova-compute.conf", "--log-file=/var/log/nova/nova-compute.log"]
    assert venv_move.venv_argv("nova-compute.service", argv, VENV, BIN) == [
        VENV + "/bin/nova-compute", "--config-file=/etc/nova/nova.conf",
        "--config-file=/etc/nova/nova-compute.conf", "--log-file=/var/log/nova/nova-compute.log"]


def test_a_program_run_directly_and_one_from_another_venv_move_the_same_way():
    argv = ["/opt/stackhop/venvs/2023.2/bin/neutron-openvswitch-agent", "--config-file", "/etc/neutron/neutron.conf"]
    assert venv_move.venv_argv("neutron-openvswitch-agent.service", argv, VENV, BIN) == [
        VENV + "/bin/neutron-openvswitch-agent", "--config-file", "/etc/neutron/neutron.conf"]


def test_uwsgi_keeps_its_ini_and_loads_the_venvs_wsgi_script_last():
    argv = ["/usr/bin/uwsgi_python311", "--http-socket", "[::]:5000", "--ini", "/etc/keystone/keystone-uwsgi.ini"]
    assert venv_move.venv_argv("keystone.service", argv, VENV, BIN, wsgi_file="/usr/bin/keystone-wsgi-public") == [
        VENV + "/bin/uwsgi", "--http-socket", "[::]:5000", "--ini", "/etc/keystone/keystone-uwsgi.ini",
        "--wsgi-file", VENV + "/bin/keystone-wsgi-public"]


def test_uwsgi_options_the_code_needs_follow_the_ini_so_they_win():
    # Debian's neutron-api ini runs 32 threads per worker; neutron's eventlet-patched code
    # needs 1 (the catalogue's uwsgi_options), and uwsgi takes the last value given
    argv = ["/usr/bin/uwsgi_python311", "--ini", "/etc/neutron/neutron-api-uwsgi.ini"]
    options = components.facts(["neutron"], "uwsgi_options")["neutron"]["neutron-api"]
    assert venv_move.venv_argv("neutron-api.service", argv, VENV, BIN | {"neutron-api"},
                               wsgi_file="/usr/bin/neutron-api", uwsgi_options=options) == [
        VENV + "/bin/uwsgi", "--ini", "/etc/neutron/neutron-api-uwsgi.ini",
        "--wsgi-file", VENV + "/bin/neutron-api", "--threads", "1"]


def test_uwsgi_options_leave_a_service_that_uwsgi_does_not_run_alone():
    argv = ["/usr/bin/python3", "/usr/bin/neutron-rpc-server", "--config-file", "/etc/neutron/neutron.conf"]
    assert venv_move.venv_argv("neutron-rpc-server.service", argv, VENV, BIN | {"neutron-rpc-server"},
                               uwsgi_options={"threads": "1"}) == [
        VENV + "/bin/neutron-rpc-server", "--config-file", "/etc/neutron/neutron.conf"]


def test_uwsgi_whose_script_the_venv_lacks_asks_for_the_target_releases():
    argv = ["/usr/bin/uwsgi_python311", "--ini", "/etc/placement/placement-uwsgi.ini"]
    with pytest.raises(VenvMoveError, match="loads /usr/bin/placement-api, which the venv .* does not have; "
                                            "give wsgi_file"):
        venv_move.venv_argv("placement-api.service", argv, VENV, BIN, wsgi_file="/usr/bin/placement-api")


@pytest.mark.parametrize("argv,message", [
    (["/usr/bin/python3", "/usr/bin/cinder-volume"], "runs cinder-volume, which the venv"),
    (["/usr/bin/python3", "-m", "nova.cmd.conductor"], "runs Python code with -m or -c"),
    (["/usr/bin/nova-conductor", "--db-password=********"], "password-like option on its command line"),
    ([], "runs no process and stackhop has no record"),
])
def test_what_cannot_move_is_said_in_one_sentence(argv, message):
    with pytest.raises(VenvMoveError, match=message):
        venv_move.venv_argv("x.service", argv, VENV, BIN)


def test_the_dropin_resets_execstart_and_keeps_the_packages_user():
    argv = [VENV + "/bin/nova-conductor", "--config-file", "/etc/nova/my nova.conf"]
    text = venv_move.dropin_text("nova-conductor.service", VENV, argv)
    assert text.splitlines()[2:] == [
        "[Service]", "ExecStart=",
        "ExecStart=%s/bin/nova-conductor --config-file '/etc/nova/my nova.conf'" % VENV,
        "Environment=PATH=%s/bin:%s" % (VENV, venv_move.DEFAULT_PATH)]
    # a unit whose init script switched user (no User= in the unit): the user is written
    text = venv_move.dropin_text("x.service", VENV, ["/a"], user="nova", group="nova", unit_has_user=False)
    assert text.endswith("User=nova\nGroup=nova\n")


def test_the_command_line_comes_from_the_record_once_there_is_one():
    package = ["/usr/bin/python3", "/usr/bin/nova-conductor", "--config-file=/etc/nova/nova.conf"]
    assert venv_move.command_source(None, package, False, "/opt/stackhop/venvs") == (package, True)
    assert venv_move.command_source({"argv": package}, ["/opt/stackhop/venvs/2024.1/bin/nova-conductor"],
                                    True, "/opt/stackhop/venvs") == (package, False)
    # running from a venv with no record: not the package's command line
    assert venv_move.command_source(None, ["/opt/stackhop/venvs/2024.1/bin/nova-conductor"], False,
                                    "/opt/stackhop/venvs") == (None, False)
    assert venv_move.command_source(None, None, True, "/opt/stackhop/venvs") == (None, False)
