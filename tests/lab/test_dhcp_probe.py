"""The lab's DHCP renewal probe (lab/roles/lab_probe/files/dhcp_probe.py, issue 19 part 2)
against a real dnsmasq, as neutron's DHCP agent runs it, in two network namespaces of this
machine: renewals ACKed with the same address; dnsmasq stopped for a few seconds makes a
slow renewal, not a failed one, while the lease lasts; a renewal with no ACK within half
the lease (here --give-up) is a failure, placed in time. On the lab's network node the
probe runs through the DHCP agent's drain (tests/lab/test_upgrade_region.py). Needs root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "lab" / "roles" / "lab_probe" / "files" / "dhcp_probe.py"
MAC, CLIENT, SERVER = "fa:16:3e:00:00:05", "10.99.7.5", "10.99.7.2"

# (dnsmasq-base is in scripts/apt-packages.txt: a missing one fails the test, not skips it)
pytestmark = pytest.mark.needs_root


def sh(*argv):
    subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture
def pair():
    # dnsmasq reads its hosts file as nobody, as neutron's does: not under pytest's 0700 tmp
    tmp_path = Path(tempfile.mkdtemp(prefix="stackhop-dhcp-probe-"))
    tmp_path.chmod(0o755)
    server_ns, client_ns = "shdhs%d" % os.getpid(), "shdhc%d" % os.getpid()
    for ns in (server_ns, client_ns):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "shdh%ds" % os.getpid(), "netns", server_ns, "type", "veth",
       "peer", "name", "eth0", "netns", client_ns)
    sh("ip", "-n", server_ns, "addr", "add", SERVER + "/24", "dev", "shdh%ds" % os.getpid())
    sh("ip", "-n", server_ns, "link", "set", "shdh%ds" % os.getpid(), "up")
    sh("ip", "-n", client_ns, "link", "set", "eth0", "address", MAC)
    sh("ip", "-n", client_ns, "addr", "add", CLIENT + "/24", "dev", "eth0")
    sh("ip", "-n", client_ns, "link", "set", "eth0", "up")
    (tmp_path / "host").write_text("%s,%s\n" % (MAC, CLIENT))
    ctx = {"server_ns": server_ns, "client_ns": client_ns, "dir": tmp_path, "dnsmasq": None, "probe": None}
    yield ctx
    for name in ("probe", "dnsmasq"):
        if ctx[name] and ctx[name].poll() is None:
            ctx[name].terminate()
            ctx[name].wait(10)
    for ns in (server_ns, client_ns):
        subprocess.run(["ip", "netns", "del", ns], check=False)
    shutil.rmtree(tmp_path, ignore_errors=True)


def start_dnsmasq(ctx):
    d = ctx["dir"]
    # neutron's options that matter here: static hosts by MAC, one interface, the lease time
    ctx["dnsmasq"] = subprocess.Popen([
        "ip", "netns", "exec", ctx["server_ns"], "dnsmasq", "--keep-in-foreground", "--no-hosts",
        "--no-resolv", "--port=0", "--conf-file=/dev/null",
        "--pid-file=%s/pid" % d, "--dhcp-hostsfile=%s/host" % d, "--dhcp-leasefile=%s/leases" % d,
        "--bind-interfaces", "--interface=shdh%ds" % os.getpid(),
        "--dhcp-range=set:subnet,10.99.7.0,static,255.255.255.0,120s"])


def stop_dnsmasq(ctx):
    ctx["dnsmasq"].terminate()
    ctx["dnsmasq"].wait(10)


def report(ctx):
    out = subprocess.run([sys.executable, str(PROBE), "report", "--state", str(ctx["dir"] / "dhcp.json")],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def wait_attempts(ctx, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            figures = report(ctx)
        except subprocess.CalledProcessError:
            figures = {}
        if figures.get("attempts", 0) >= n:
            return figures
        time.sleep(0.5)
    raise AssertionError("the probe made fewer than %d renewals in %d s: %s" % (n, timeout, figures))


def start_probe(ctx, *extra):
    ctx["probe"] = subprocess.Popen(["ip", "netns", "exec", ctx["client_ns"], sys.executable, str(PROBE), "run",
                                     "--iface", "eth0", "--every", "1", "--state", str(ctx["dir"] / "dhcp.json")]
                                    + list(extra))


def test_renewals_survive_a_short_dnsmasq_restart_and_keep_the_address(pair):
    start_dnsmasq(pair)
    start_probe(pair)
    figures = wait_attempts(pair, 3)
    assert figures["lease_s"] == 120 and figures["give_up_s"] == 60.0
    assert figures["servers"] == [SERVER] and figures["addresses"] == [CLIENT]
    before = figures["attempts"]
    stop_dnsmasq(pair)
    time.sleep(4)
    start_dnsmasq(pair)
    figures = wait_attempts(pair, before + 3)
    assert figures["failed"] == 0 and figures["acked"] == figures["attempts"]
    assert figures["addresses"] == [CLIENT]
    slow = [e for e in figures["events"] if e["kind"] == "gap"]
    assert len(slow) == 1 and 3000 < slow[0]["ms"] < 15000, figures["events"]


def test_a_renewal_unanswered_within_half_the_lease_fails_in_time(pair):
    start_dnsmasq(pair)
    start_probe(pair, "--give-up", "3")
    wait_attempts(pair, 2)
    stop_dnsmasq(pair)
    t0 = time.time()
    deadline = time.monotonic() + 30
    while report(pair)["failed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    figures = report(pair)
    assert figures["failed"] >= 1
    failed = [e for e in figures["events"] if e["kind"] == "loss"]
    assert failed and failed[0]["reason"] == "no ACK" and failed[0]["end"] >= t0 - 1
    # reset counts afresh and keeps what was learnt
    out = subprocess.run([sys.executable, str(PROBE), "reset", "--state", str(pair["dir"] / "dhcp.json")],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["servers"] == [SERVER]
