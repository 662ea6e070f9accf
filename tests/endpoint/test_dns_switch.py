"""endpoint_switch method dns against a real BIND 9 (Debian's bind9) primary on
127.0.0.1:35353 with a dynamic zone that accepts updates signed with a TSIG key: the role
rewrites the record with nsupdate and the key FILE, a second run changes nothing, check
mode changes nothing, the secret never shows in the output (-vvv), and a wrong key fails
with a clear sentence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lib.ansible_runner import REPO, run_playbook

PORT = 35353
ZONE = "lab.example"
RECORD = "keystone.lab.example."
PLAYBOOK = REPO / "playbooks" / "endpoint_switch.yml"

pytestmark = pytest.mark.skipif(not (shutil.which("named") and shutil.which("nsupdate")),
                                reason="bind9 and bind9-dnsutils are not installed")


def dig(name, rtype="A"):
    out = subprocess.run(["dig", "+short", "+norecurse", "+tcp", "@127.0.0.1", "-p", str(PORT),
                          name, rtype], capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    d = tmp_path_factory.mktemp("named")
    key = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "stackhop-switch"],
                         capture_output=True, text=True, check=True).stdout
    (d / "switch.key").write_text(key)
    (d / "switch.key").chmod(0o600)
    bad = subprocess.run(["tsig-keygen", "-a", "hmac-sha256", "stackhop-switch"],
                         capture_output=True, text=True, check=True).stdout
    (d / "wrong.key").write_text(bad)
    (d / "wrong.key").chmod(0o600)
    (d / "zone.db").write_text(
        "$TTL 300\n@ IN SOA ns.%s. admin.%s. 1 3600 600 86400 60\n@ IN NS ns.%s.\n"
        "ns IN A 127.0.0.1\nkeystone IN A 10.20.0.11\n" % (ZONE, ZONE, ZONE))
    (d / "named.conf").write_text("""
options {
  directory "%(d)s";
  pid-file "%(d)s/named.pid";
  session-keyfile "%(d)s/session.key";
  listen-on port %(port)d { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
};
controls { };
include "%(d)s/switch.key";
zone "%(zone)s" { type primary; file "%(d)s/zone.db"; allow-update { key "stackhop-switch"; }; };
""" % {"d": d, "port": PORT, "zone": ZONE})
    proc = subprocess.Popen(["named", "-g", "-c", str(d / "named.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "named.log", "w"))
    deadline = time.monotonic() + 30
    while True:
        try:
            if dig(RECORD) == ["10.20.0.11"]:
                break
        except subprocess.CalledProcessError:
            pass
        assert proc.poll() is None, (d / "named.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "named did not answer"
        time.sleep(0.3)
    secret = [ln for ln in key.splitlines() if "secret" in ln][0].split('"')[1]
    yield {"dir": d, "secret": secret}
    proc.terminate()
    proc.wait(10)


def switch(named, check=False, key="switch.key", value="10.20.0.12", verbose=False):
    extra = {"endpoint_switch_service": "keystone", "endpoint_switch_method": "dns",
             "endpoint_switch_from": "localhost", "endpoint_switch_to": "localhost",
             "endpoint_switch_dns_server": "127.0.0.1", "endpoint_switch_dns_port": PORT,
             "endpoint_switch_dns_zone": ZONE, "endpoint_switch_dns_record": RECORD,
             "endpoint_switch_dns_value": value, "endpoint_switch_dns_ttl": 30,
             "endpoint_switch_dns_key_file": str(named["dir"] / key),
             "endpoint_switch_verify_port": -1}
    # from == to would mean "nothing moves": name the old node differently
    extra["endpoint_switch_from"] = "old-controller"
    env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
           "STACKHOP_REPORT_DIR": str(named["dir"] / "report"), "STACKHOP_REPORT_SUMMARY": "false"}
    if verbose:
        env["ANSIBLE_VERBOSITY"] = "3"
    proc = run_playbook(PLAYBOOK, extra_vars=extra, inventory="localhost,", check=check,
                        extra_env=env, timeout=300)
    # -vvv prints its lines before the json callback's document
    start = proc.stdout.find("\n{\n") + 1 if not proc.stdout.startswith("{") else 0
    out = json.JSONDecoder().raw_decode(proc.stdout[start:])[0]
    failed = [(t["task"]["name"], r.get("msg")) for play in out["plays"] for t in play["tasks"]
              for r in t["hosts"].values() if r.get("failed")]
    proc.failed_tasks = failed
    return proc, out["stats"]["localhost"], out


def test_rewrites_the_record_idempotently(named):
    proc, stats, _facts = switch(named, check=True)
    assert proc.returncode == 0 and stats["changed"] >= 1, proc.failed_tasks
    assert dig(RECORD) == ["10.20.0.11"], "check mode must not change the record"

    proc, stats, _facts = switch(named, verbose=True)
    assert proc.returncode == 0, proc.failed_tasks
    assert dig(RECORD) == ["10.20.0.12"]
    assert named["secret"] not in proc.stdout + proc.stderr
    # the nsupdate command line names the key file only
    assert "nsupdate" in proc.stdout and str(named["dir"] / "switch.key") in proc.stdout

    proc, stats, _facts = switch(named)
    assert proc.returncode == 0 and stats["changed"] == 0, "a second run must change nothing"

    # and back (a rollback swaps the nodes)
    proc, stats, _facts = switch(named, value="10.20.0.11")
    assert proc.returncode == 0 and dig(RECORD) == ["10.20.0.11"]
    assert [ln for ln in (named["dir"] / "zone.db.jnl").read_bytes().split(b"\n") if ln]


def test_wrong_key_fails_and_changes_nothing(named):
    proc, stats, out = switch(named, key="wrong.key", value="10.20.0.99")
    assert proc.returncode != 0 and stats["failures"] == 1
    assert dig(RECORD) == ["10.20.0.11"]
    text = json.dumps(out)
    assert "TSIG" in text or "NOTAUTH" in text or "BADSIG" in text or "tsig" in text
    assert not list(Path("/tmp").glob("stackhop-nsupdate-*")), "the working directory is removed"


def test_bad_input_is_refused():
    proc = run_playbook(PLAYBOOK, inventory="localhost,", extra_vars={
        "endpoint_switch_service": "keystone", "endpoint_switch_method": "dns",
        "endpoint_switch_from": "a", "endpoint_switch_to": "b",
        "endpoint_switch_dns_server": "127.0.0.1", "endpoint_switch_dns_zone": ZONE,
        "endpoint_switch_dns_record": "keystone.other.example.", "endpoint_switch_dns_value": "10.0.0.1",
        "endpoint_switch_dns_key_file": "/nonexistent"},
        extra_env={"ANSIBLE_PYTHON_INTERPRETER": sys.executable})
    assert proc.returncode != 0 and "_record (inside the zone)" in proc.stdout
