"""The topology ha's infrastructure on three lab hosts (issue 18): ctl1..ctl3 of
lab/inventory-ha/hosts.yml, and lab/playbooks/ha_infra.yml on them (roles lab_galera,
lab_rabbitmq in cluster mode, lab_lb). Shown, with figures printed:

- every Galera node Synced and ready in a Primary component of 3, a row written
  through the VIP's 3306 read on every node, and a stopped node back by a re-run that
  starts it alone into the running cluster;
- RabbitMQ's cluster_status with 3 running nodes and no partition, and a quorum queue
  declared and fed on one node, its 3 members listed and its message read on the others;
- an HTTP backend on each controller's own address answering through the VIP, one
  backend drained and back through HAProxy's runtime API (level admin);
- a second run of the roles changes nothing, and the first one put none of the lab's
  secrets (the Erlang cookie, the passwords) on any process's argv or in its output;
- keepalived stopped on the VIP's holder: the VIP moves, and a poll of it at 20 Hz from
  the lab's switch (a client outside the controllers) loses at most MAX_LOST_POLLS polls.

The lab (STACKHOP_HA_INFRA_LAB, default ``hainf``) is destroyed at the end, also on
failure. About 4 min on two shared cores, most of it apt on the three hosts.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time

import pytest
import yaml

from lab.labctl import Lab
from tests.lib.ansible_runner import REPO, VENV
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets
from tests.lib.region_lab import RegionLab, failed_tasks

# a rehearsal (scripts/rehearse.sh ha-infra): three systemd hosts with Galera, RabbitMQ and
# keepalived cost CI's two cores more than its lab region can spare
pytestmark = [pytest.mark.needs_root, pytest.mark.rehearsal("ha-infra")]

LAB = os.environ.get("STACKHOP_HA_INFRA_LAB", "hainf")
SOURCE = REPO / "lab" / "inventory-ha" / "hosts.yml"
PLAYBOOK = REPO / "lab" / "playbooks" / "ha_infra.yml"
API_PROBE = REPO / "roles" / "api_probe" / "files" / "api_probe.py"
CONTROLLERS = ("ctl1", "ctl2", "ctl3")
API_PORT = 5000            # keystone's frontend on the VIP (lab_lb_apis)
POLL_HZ = 20
# Stopping keepalived sends a priority-0 advertisement: a backup takes the VIP at once
# and announces it with a gratuitous ARP. A second of polls is the bound.
MAX_LOST_POLLS = POLL_HZ
GALERA_STATUS = ("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', "
                 "'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_ready')")
QUEUE = "hainf-quorum"


def controllers_inventory(lab):
    """lab/inventory-ha/hosts.yml with only the controllers, plus the lab's connection
    vars, at build/lab/<lab>/hosts.yml with a link to the topology's group_vars (as
    scripts/lab-up.sh derives a lab's inventory)."""
    data = yaml.safe_load(SOURCE.read_text())

    def prune(group):
        if (group or {}).get("hosts"):
            group["hosts"] = {h: v for h, v in group["hosts"].items() if h in CONTROLLERS}
        for child in ((group or {}).get("children") or {}).values():
            prune(child)
    prune(data["all"])
    data["all"]["vars"].update(Lab(lab).connection_vars())
    out = REPO / "build" / "lab" / lab / "hosts.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# derived from %s (the controllers only) for lab %s by %s; do not edit\n%s"
                   % (SOURCE.relative_to(REPO), lab, __name__,
                      yaml.safe_dump(data, sort_keys=False)))
    link = out.parent / "group_vars"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(SOURCE.parent / "group_vars")
    return out


def run_infra(ha):
    """ha_infra.yml on the lab: {host: changed tasks}, seconds, its output."""
    t0 = time.monotonic()
    proc, doc = ha.playbook(PLAYBOOK)
    assert proc.returncode == 0, failed_tasks(doc) or proc.stderr[-3000:]
    return {h: s["changed"] for h, s in doc["stats"].items()}, time.monotonic() - t0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def ha():
    """The three controllers up and ha_infra.yml run once on them; destroyed at the end."""
    t0 = time.monotonic()
    inventory = controllers_inventory(LAB)
    lab = Lab(LAB)
    lab.destroy()
    try:
        lab.create(inventory)
        region = RegionLab(LAB, owned=True, seconds=time.monotonic() - t0)
        region.vip = region.hostvars["ctl1"]["lab_lb_vip"]
        with ArgvSampler(load_lab_secrets(), lab=LAB) as sampler:
            region.first_run = run_infra(region)
        region.argv = sampler.report()
        print("\nlab %s: 3 hosts up in %.1f s; first run of ha_infra.yml %.0f s, changed %s"
              % (LAB, region.seconds, region.first_run[1], region.first_run[0]))
        yield region
    finally:
        pss = lab.status()["pss_kib"] if lab.state() else 0
        lab.destroy()
        print("\nlab %s: its processes held %.0f MiB (PSS) before destroy" % (LAB, pss / 1024))
        print("\nlab %s destroyed; wall time %.0f s" % (LAB, time.monotonic() - t0))


def in_switch(ha, argv, stdin=None, timeout=60):
    """Run argv in the lab's switch namespace: a client on the management network that is
    none of the controllers."""
    return subprocess.run(["ip", "netns", "exec", Lab(LAB).switch] + [str(a) for a in argv],
                          input=stdin, capture_output=True, text=True, timeout=timeout, check=True)


def galera_status(ha, host):
    out = ha.exec(host, "mysql", "-N", "-B", "-e", GALERA_STATUS).stdout
    return dict(line.split("\t", 1) for line in out.splitlines())


def vip_holders(ha):
    return [h for h in CONTROLLERS if ha.vip in ha.addresses(h)]


def test_the_first_run_put_no_secret_on_an_argv_or_in_its_output(ha):
    in_output = sorted(key for key, value in load_lab_secrets().items() if value in ha.first_run[2])
    print("\nfirst run: %d passes over every process's argv (%s), %d with a secret; secrets in its output: %s"
          % (ha.argv["samples"], ha.argv["mode"], len(ha.argv["hits"]), in_output))
    assert ha.argv["samples"] > 10
    assert not ha.argv["hits"] and not in_output


def test_a_second_run_changes_nothing(ha):
    changed, seconds, _output = run_infra(ha)
    print("\nsecond run of ha_infra.yml: %.0f s, changed %s (first run: %s)"
          % (seconds, changed, ha.first_run[0]))
    assert sum(ha.first_run[0].values()) > 0
    assert changed == {h: 0 for h in CONTROLLERS}


def test_galera_every_node_synced_in_a_cluster_of_three(ha):
    states = {h: galera_status(ha, h) for h in CONTROLLERS}
    for host, state in states.items():
        print("\ngalera %s: size %s, %s, %s, ready %s" % (
            host, state["wsrep_cluster_size"], state["wsrep_cluster_status"],
            state["wsrep_local_state_comment"], state["wsrep_ready"]), end="")
    assert all(s == {"wsrep_cluster_size": "3", "wsrep_cluster_status": "Primary",
                     "wsrep_local_state_comment": "Synced", "wsrep_ready": "ON"}
               for s in states.values()), states


def test_a_row_written_through_the_vip_is_read_on_every_node(ha):
    password = secrets.token_hex(12)
    value = "row-%s" % secrets.token_hex(4)
    # root by the unix socket; the SQL (and the password in it) on stdin
    ha.exec("ctl1", "mysql", input=(
        "CREATE DATABASE IF NOT EXISTS hainf_probe;"
        "CREATE OR REPLACE USER 'hainf_probe'@'%%' IDENTIFIED BY '%s';"
        "GRANT ALL ON hainf_probe.* TO 'hainf_probe'@'%%';" % password))
    client = (
        "import json, sys, pymysql\n"
        "secret = json.load(sys.stdin)\n"
        "db = pymysql.connect(host=secret['host'], port=3306, user='hainf_probe',\n"
        "                     password=secret['password'], database='hainf_probe', autocommit=True)\n"
        "with db.cursor() as cur:\n"
        "    cur.execute('CREATE TABLE IF NOT EXISTS rows_ (id INT PRIMARY KEY, v VARCHAR(64))')\n"
        "    cur.execute('REPLACE INTO rows_ VALUES (1, %s)', (secret['value'],))\n"
        "    cur.execute('SELECT @@hostname')\n"
        "    print(cur.fetchone()[0])\n")
    writer = in_switch(ha, [VENV / "bin" / "python", "-c", client], stdin=json.dumps(
        {"host": ha.vip, "password": password, "value": value})).stdout.strip()
    read = {}
    for host in CONTROLLERS:
        # wsrep_sync_wait: the read waits until the node has applied every earlier write
        read[host] = ha.exec(host, "mysql", "-N", "-B", "-e",
                             "SET SESSION wsrep_sync_wait = 1; "
                             "SELECT v FROM hainf_probe.rows_ WHERE id = 1").stdout.strip()
    print("\nrow written through %s:3306 (HAProxy's writer: %s), read on %s"
          % (ha.vip, writer, ", ".join("%s=%s" % hv for hv in read.items())))
    assert writer == "ctl1", "the first of stackhop_db is the single writer"
    assert read == {h: value for h in CONTROLLERS}


def test_a_stopped_galera_node_rejoins_on_a_rerun_without_a_new_bootstrap(ha):
    ha.exec("ctl2", "systemctl", "stop", "mariadb")
    sizes = {h: galera_status(ha, h)["wsrep_cluster_size"] for h in ("ctl1", "ctl3")}
    changed, seconds, _output = run_infra(ha)
    states = {h: galera_status(ha, h)["wsrep_local_state_comment"] for h in CONTROLLERS}
    print("\nctl2's MariaDB stopped: cluster size %s; a run of ha_infra.yml (%.0f s) changed %s; states %s"
          % (sizes, seconds, changed, states))
    assert sizes == {"ctl1": "2", "ctl3": "2"}
    # only ctl2 started (into the running cluster): no bootstrap, no restart elsewhere
    assert changed == {"ctl1": 0, "ctl2": 1, "ctl3": 0}
    assert states == {h: "Synced" for h in CONTROLLERS}
    assert all(galera_status(ha, h)["wsrep_cluster_size"] == "3" for h in CONTROLLERS)


def test_rabbitmq_three_running_nodes_and_a_quorum_queue_on_every_node(ha):
    nodes = sorted("rabbit@%s" % h for h in CONTROLLERS)
    for host in CONTROLLERS:
        status = json.loads(ha.exec(host, "rabbitmqctl", "cluster_status", "--formatter", "json").stdout)
        print("\nrabbitmq %s: running %s, partitions %s" % (host, status["running_nodes"], status["partitions"]),
              end="")
        assert sorted(status["running_nodes"]) == nodes and not status["partitions"]
    # a client of the services' own kind (py-amqp, which oslo.messaging's kombu uses):
    # declare and feed on ctl1's node, read on ctl3's
    ha.exec("ctl2", "apt-get", "install", "-y", "-q", "python3-amqp")
    client = (
        "import json, sys, amqp\n"
        "args = json.load(sys.stdin)\n"
        "with amqp.Connection('%s:5672' % args['host'], userid='openstack', password=args['password']) as conn:\n"
        "    ch = conn.channel()\n"
        "    if args['declare']:\n"
        "        ch.confirm_select()\n"
        "        ch.queue_declare(args['queue'], durable=True, auto_delete=False,\n"
        "                         arguments={'x-queue-type': 'quorum'})\n"
        "        ch.basic_publish(amqp.Message(args['body'], delivery_mode=2), routing_key=args['queue'])\n"
        "    else:\n"
        "        msg = ch.basic_get(args['queue'], no_ack=True)\n"
        "        print(msg.body if msg else '')\n")
    password = load_lab_secrets()["stackhop_rabbitmq_password"]
    body = "msg-%s" % secrets.token_hex(4)
    address = {h: ha.hostvars[h]["ansible_host"] for h in CONTROLLERS}
    ha.exec("ctl2", "python3", "-c", client, input=json.dumps(
        {"host": address["ctl1"], "password": password, "declare": True, "queue": QUEUE, "body": body}))
    for host in CONTROLLERS:
        queues = json.loads(ha.exec(host, "rabbitmqctl", "list_queues", "name", "type", "leader", "members",
                                    "--formatter", "json").stdout)
        queue = [q for q in queues if q["name"] == QUEUE]
        print("\nrabbitmq %s lists %s" % (host, queue), end="")
        assert len(queue) == 1 and queue[0]["type"] == "quorum" and sorted(queue[0]["members"]) == nodes
    got = ha.exec("ctl2", "python3", "-c", client, input=json.dumps(
        {"host": address["ctl3"], "password": password, "declare": False, "queue": QUEUE})).stdout.strip()
    print("\nquorum queue %s: declared and fed through rabbit@ctl1, its message read through rabbit@ctl3"
          % QUEUE)
    assert got == body


def start_backends(ha):
    """An HTTP server on each controller's own address and the API's port, answering its
    host's name (a stand-in for an API)."""
    for host in CONTROLLERS:
        ha.exec(host, "sh", "-c", "mkdir -p /run/hainf-www && hostname > /run/hainf-www/index.html")
        ha.exec(host, "systemd-run", "--unit=hainf-http", "--collect", "--working-directory=/run/hainf-www",
                "/usr/bin/python3", "-m", "http.server", "--bind", ha.hostvars[host]["ansible_host"], API_PORT,
                check=False)


def admin(ha, host, command):
    """One command to HAProxy's runtime API on ``host`` (its UNIX socket)."""
    client = ("import socket, sys\n"
              "s = socket.socket(socket.AF_UNIX)\n"
              "s.connect('/run/haproxy/admin.sock')\n"
              "s.sendall(sys.argv[1].encode() + b'\\n')\n"
              "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())\n")
    return ha.exec(host, "python3", "-c", client, command).stdout


def keystone_backends(ha, host):
    """{server: status} of the keystone frontend's backend servers, from `show stat`."""
    lines = admin(ha, host, "show stat").lstrip("# ").splitlines()
    rows = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:] if line]
    return {r["svname"]: r["status"] for r in rows if r["pxname"] == "keystone" and r["svname"] in CONTROLLERS}


def wait_backends(ha, host, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        state = keystone_backends(ha, host)
        if state == wanted or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def get_through_vip(ha, count):
    url = "http://%s:%d/" % (ha.vip, API_PORT)
    client = ("import sys, urllib.request\n"
              "for _ in range(int(sys.argv[2])):\n"
              "    print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())\n")
    return in_switch(ha, ["/usr/bin/python3", "-c", client, url, count]).stdout.split()


def test_an_http_backend_on_each_controller_answers_through_the_vip(ha):
    start_backends(ha)
    holder = vip_holders(ha)[0]
    up = {h: "UP" for h in CONTROLLERS}
    assert wait_backends(ha, holder, up) == up
    answered = get_through_vip(ha, 6)
    print("\nhttp://%s:%d/ (held by %s), six GETs answered by %s" % (ha.vip, API_PORT, holder, answered))
    assert sorted(set(answered)) == list(CONTROLLERS)
    # the upgrade's drain: through the runtime API, level admin
    admin(ha, holder, "set server keystone/ctl3 state drain")
    drained = keystone_backends(ha, holder)
    answered_drained = get_through_vip(ha, 6)
    admin(ha, holder, "set server keystone/ctl3 state ready")
    print("keystone/ctl3 drained through /run/haproxy/admin.sock: %s, six GETs answered by %s"
          % (drained, answered_drained))
    assert drained["ctl3"] == "DRAIN" and "ctl3" not in answered_drained
    assert wait_backends(ha, holder, up) == up


def test_the_vip_moves_when_keepalived_stops_on_its_holder(ha, tmp_path):
    start_backends(ha)   # this test alone needs them too
    holders = vip_holders(ha)
    assert len(holders) == 1, "one holder of %s, not %s" % (ha.vip, holders)
    old = holders[0]
    assert wait_backends(ha, old, {h: "UP" for h in CONTROLLERS})
    probe = subprocess.Popen(
        ["ip", "netns", "exec", Lab(LAB).switch, "/usr/bin/python3", API_PROBE, "run",
         "--target", "vip=http://%s:%d/" % (ha.vip, API_PORT), "--hz", str(POLL_HZ), "--timeout", "0.2",
         "--out-dir", tmp_path, "--fresh"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        t0 = time.monotonic()
        ha.exec(old, "systemctl", "stop", "keepalived")
        new = []
        while time.monotonic() - t0 < 15 and not new:
            new = [h for h in vip_holders(ha) if h != old]
            time.sleep(0.05)
        moved = time.monotonic() - t0
        time.sleep(3)
    finally:
        probe.send_signal(signal.SIGINT)
        probe.wait(timeout=15)
    record = json.loads((tmp_path / "api-vip.json").read_text())
    ha.exec(old, "systemctl", "start", "keepalived")
    time.sleep(4)   # three advertisements and more: time enough for a preemption
    after = vip_holders(ha)
    print("\nVIP %s: keepalived stopped on %s, held by %s after %.2f s (seen by polling); %s back: "
          "held by %s (no preemption)\npoll at %.1f Hz from the switch: %d polls, %d lost, longest gap %.3f s, "
          "windows %s" % (ha.vip, old, new, moved, old, after, record["polls_per_s"], record["polls"],
                          record["failed_polls"], record["longest_s"],
                          [(w["seconds"], w["reason"], w["polls"]) for w in record["down"]]))
    assert len(new) == 1 and ha.vip not in ha.addresses(old)
    assert record["polls_per_s"] >= 10
    assert record["failed_polls"] <= MAX_LOST_POLLS, record["down"]
    assert after == new, "the VIP must stay where it moved (nopreempt)"
