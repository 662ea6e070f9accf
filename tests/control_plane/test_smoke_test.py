"""smoke_test against real keystones (2024.1 from PyPI): the operator's clouds.yaml entry
in a domain other than Default, system scope, an identity override that issues the token
on one node, a token of one keystone validated on another (fernet keys copied: valid;
other keys: the sentence names the fix), check mode, and one-sentence failures that never
show the password.

Three keystone processes share one MariaDB database; the second's fernet key repository is a
copy of the first's, the third's is its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
import yaml

from tests.control_plane.conftest import DB_PASSWORD, KEYSTONE, PORT
from tests.lib.ansible_runner import VENV, run_module
from tests.lib.openstack_venv import ensure_venv
from tests.lib.private_mariadb import free_port

ADMIN_PASSWORD = "smokeAdm-7Qe2Rx"
OPERATOR_PASSWORD = "smokeOps-4Lk9Wd"

# keystone's WSGI application under a threaded wsgiref server (no uWSGI needed here)
SERVE = r"""
import os, socketserver, sys
port = int(sys.argv.pop(1))          # oslo.config reads the rest of sys.argv
from wsgiref.simple_server import WSGIServer, WSGIRequestHandler, make_server
from keystone.server.wsgi import initialize_public_application

class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

make_server("127.0.0.1", port, initialize_public_application(), Server, Quiet).serve_forever()
"""


class Keystone:
    def __init__(self, venv, conf_dir, port):
        self.venv, self.conf_dir, self.port = venv, conf_dir, port
        self.url = "http://127.0.0.1:%d/v3" % port
        self.proc = None

    def start(self):
        env = dict(os.environ, OS_KEYSTONE_CONFIG_DIR=str(self.conf_dir))
        self.proc = subprocess.Popen([str(self.venv / "bin" / "python"), "-c", SERVE, str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=open(self.conf_dir / "log", "w"),
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
            assert self.proc.poll() is None, (self.conf_dir / "log").read_text()[-2000:]
        raise AssertionError("keystone on %d did not answer" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def write_conf(directory, db, keys):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "keystone.conf").write_text(
        "[database]\nconnection = %s\n"
        "[fernet_tokens]\nkey_repository = %s\n"
        "[fernet_receipts]\nkey_repository = %s\n"
        "[credential]\nkey_repository = %s\n" % (db, keys / "fernet", keys / "receipts", keys / "credential"))


def manage(venv, directory, *argv, env=None):
    subprocess.run([str(venv / "bin" / "python"), str(venv / "bin" / "keystone-manage"),
                    "--config-file", str(directory / "keystone.conf")] + list(argv),
                   check=True, capture_output=True, text=True, env=dict(os.environ, **(env or {})))


def key_setup(venv, directory):
    for verb in ("fernet_setup", "credential_setup"):
        manage(venv, directory, verb, "--keystone-user", "root", "--keystone-group", "root")


@pytest.fixture(scope="module")
def keystones(tmp_path_factory, mariadb):
    venv = ensure_venv(*KEYSTONE["2024.1"])
    root = tmp_path_factory.mktemp("smoke-keystone")
    mariadb.sql(["DROP DATABASE IF EXISTS smoke_keystone", "CREATE DATABASE smoke_keystone"])
    mariadb.create_user("smoke_ks", DB_PASSWORD, ["smoke_keystone"])
    db = "mysql+pymysql://smoke_ks:%s@127.0.0.1:%d/smoke_keystone" % (DB_PASSWORD, PORT)
    ports = [free_port(), free_port(), free_port()]
    dirs = [root / name for name in ("a", "b", "c")]
    for directory in dirs:
        write_conf(directory, db, directory / "keys")
    manage(venv, dirs[0], "db_sync")
    key_setup(venv, dirs[0])
    shutil.copytree(dirs[0] / "keys", dirs[1] / "keys")      # b: the keys copied (blue-green)
    key_setup(venv, dirs[2])                                   # c: keys of its own
    manage(venv, dirs[0], "bootstrap", "--bootstrap-admin-url", "http://127.0.0.1:%d/v3" % ports[0],
           "--bootstrap-public-url", "http://127.0.0.1:%d/v3" % ports[0],
           "--bootstrap-internal-url", "http://127.0.0.1:%d/v3" % ports[0],
           "--bootstrap-region-id", "RegionOne", env={"OS_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD})
    servers = [Keystone(venv, d, p) for d, p in zip(dirs, ports)]
    try:
        for server in servers:
            server.start()
        yield servers, root
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def clouds(keystones):
    """clouds.yaml: the bootstrap admin (Default domain, project scope), the same admin
    system-scoped, and an operator of domain ``ops`` with admin on its project there."""
    servers, root = keystones
    import openstack  # the test's own venv has openstacksdk (openstack.cloud needs it)
    admin_auth = {"auth_url": servers[0].url, "username": "admin", "password": ADMIN_PASSWORD,
                  "user_domain_name": "Default", "project_name": "admin", "project_domain_name": "Default"}
    conn = openstack.connect(auth=admin_auth, region_name="RegionOne")
    domain = conn.identity.find_domain("ops") or conn.identity.create_domain(name="ops")
    project = (conn.identity.find_project("ops-admin", domain_id=domain.id)
               or conn.identity.create_project(name="ops-admin", domain_id=domain.id))
    user = (conn.identity.find_user("operator", domain_id=domain.id)
            or conn.identity.create_user(name="operator", domain_id=domain.id, password=OPERATOR_PASSWORD))
    role = conn.identity.find_role("admin")
    conn.identity.assign_project_role_to_user(project, user, role)
    entries = {
        "admin": {"auth": admin_auth, "region_name": "RegionOne"},
        "system": {"auth": {"auth_url": servers[0].url, "username": "admin", "password": ADMIN_PASSWORD,
                            "user_domain_name": "Default", "system_scope": "all"},
                   "region_name": "RegionOne"},
        "ops": {"auth": {"auth_url": servers[0].url, "username": "operator", "password": OPERATOR_PASSWORD,
                         "user_domain_name": "ops", "project_name": "ops-admin", "project_domain_name": "ops"},
                "region_name": "RegionOne"},
    }
    path = root / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": entries}))
    path.chmod(0o600)
    return path


def smoke(clouds, check=False, python=None, **args):
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    if python:
        env["ANSIBLE_PYTHON_INTERPRETER"] = python
    result = run_module("smoke_test", args, check=check, extra_env=env)
    for secret in (ADMIN_PASSWORD, OPERATOR_PASSWORD):
        assert secret not in result.stdout + result.stderr, "a password leaked"
    return result


def statuses(result):
    return {c["check"]: c["status"] for c in result["checks"]}


@pytest.mark.parametrize("cloud", ["admin", "system", "ops"])
def test_keystone_checks_pass_with_any_domain_and_scope(clouds, cloud):
    result = smoke(clouds, cloud=cloud, components=["keystone"])
    assert not result.failed, result.get("msg")
    assert statuses(result) == {"token issue": "ok", "user list": "ok"}
    assert result["failed_checks"] == 0 and not result["changed"]


def test_token_of_one_keystone_validates_where_the_keys_were_copied(clouds, keystones):
    servers, _root = keystones
    issued = smoke(clouds, cloud="admin", issue_token=True)
    token = issued["auth_token"]
    assert len(token) > 100 and issued["checks"] == []
    copied = smoke(clouds, cloud="admin", components=["keystone"], validate_token=token,
                   endpoint_overrides={"identity": servers[1].url})
    assert not copied.failed, copied.get("msg")
    assert statuses(copied)["token of the older keystone validates"] == "ok"
    assert token not in copied.stdout, "the validated token was printed"

    other = smoke(clouds, cloud="admin", components=["keystone"], validate_token=token,
                  endpoint_overrides={"identity": servers[2].url})
    assert other.failed
    msg = other["msg"]
    assert msg.startswith("smoke test of keystone failed on cloud admin with identity at %s: "
                          "token of the older keystone validates: RuntimeError: HTTP 404" % servers[2].url), msg
    assert "copy /etc/keystone/fernet-keys" in msg and msg.count(". ") == 0, msg
    assert "2 checks passed" in msg     # the token issued by the third keystone itself, the user list

    report = smoke(clouds, cloud="admin", components=["keystone"], validate_token=token, fail=False,
                   endpoint_overrides={"identity": servers[2].url})
    assert not report.failed and report["failed_checks"] == 1


def test_identity_override_issues_the_token_on_that_node(clouds, keystones):
    servers, _root = keystones
    servers[1].stop()
    try:
        down = smoke(clouds, cloud="ops", components=["keystone"],
                     endpoint_overrides={"identity": servers[1].url})
        assert down.failed
        assert down["msg"].startswith("could not authenticate to cloud ops with identity at %s: " % servers[1].url)
        assert down["msg"].endswith("check the clouds.yaml entry, the auth options and that keystone answers.")
        report = smoke(clouds, cloud="ops", components=["keystone"], fail=False,
                       endpoint_overrides={"identity": servers[1].url})
        assert not report.failed and report["failed_checks"] == 1
    finally:
        servers[1].start()


def test_check_mode_runs_the_reads(clouds):
    result = smoke(clouds, check=True, cloud="ops", components=["keystone"])
    assert not result.failed and statuses(result) == {"token issue": "ok", "user list": "ok"}


def test_bad_input_and_missing_openstacksdk_are_one_sentence(clouds):
    wrong = smoke(clouds, cloud="ops", components=["keystone"], auth={"password": "not-" + OPERATOR_PASSWORD})
    assert wrong.failed and wrong["msg"].startswith("could not authenticate to cloud ops: "), wrong["msg"]
    assert "(HTTP 401)" in wrong["msg"] and wrong["msg"].count("; ") == 1, wrong["msg"]
    assert "not-" + OPERATOR_PASSWORD not in wrong.stdout

    unknown = smoke(clouds, cloud="ops", components=["keystone"], endpoint_overrides={"nova-api": "http://x"})
    assert unknown["msg"] == ("endpoint_overrides names unknown service type nova-api: use baremetal, block-storage, compute, "
                              "identity, image, network, placement, or a component name.")

    # Debian's own Python has no openstacksdk: the sentence says which Python and the fix
    plain = smoke(clouds, python="/usr/bin/python3", cloud="ops", components=["keystone"])
    assert plain.failed and plain["msg"].startswith("openstacksdk is not importable by /usr/bin/python3"), plain["msg"]
    assert "ansible_python_interpreter" in plain["msg"]
    assert json.dumps(plain).count(OPERATOR_PASSWORD) == 0
    assert VENV.exists()
