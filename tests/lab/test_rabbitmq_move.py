"""The services moved to a new RabbitMQ with the control plane (issue 22 part 2, NHN's
blue-green), on a lab region of its own: the rehearsal ``rabbitmq-move``
(scripts/rehearse.sh rabbitmq-move).

The region is the lab's, with the inventory variant ``mqmove`` (lab/inventory-variants/
mqmove.yml): a second, empty RabbitMQ on ctl-new (stackhop_rabbitmq_new,
stackhop_transport_url_new). upgrade_region.yml 2024.1 -> 2025.1 blue-green, with the
VMs' probe and the authenticated API probe (reads of every API; neutron's network and port,
cinder's volume and glance's image written at 4 Hz) running: the brokers are bridged
(stackhop.upgrade.rabbitmq_bridge), each component's services start on ctl-new against
the new broker, the computes' nova-compute and OVS agent follow in their batch, nova's
cell mapping follows, and the bridge comes down once no service uses ctl-old's broker.
Proven:

* the upgrade passes; 0 ICMP lost and 0 TCP resets between vm1 (az1) and vm2 (az2); every
  write of the probe counted, its failures and longest window per service printed;
* every service of the region, the computes' included, is connected to ctl-new's broker
  (its connection names, from rabbitmqctl); ctl-old's has no client and no message left;
  no federation policy or upstream remains on either;
* every config names the new broker, nova's cell mapping too;
* the moved services send their notifications on a transport of their own (NHN split them
  from RPC; the variant's stackhop_notification_transport_url_new, the vhost
  ``notifications`` of ctl-new's broker): their configs name it, and the writes' notifications
  wait in its queues;
* then rollback.yml of the region (the computes, then the control plane) with the VMs'
  probe: the brokers bridged again while the computes go back, every service on ctl-old's
  broker after, ctl-new's with no client, the bridge down, 0 packets lost.

Figures go to build/lab/rabbitmq-move-figures.json and are printed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.lib.ansible_runner import REPO
from tests.lib.cp_lab import api_downtime, log, probe_check_figures, report, run_playbook, side_addresses
from tests.lab.conftest import REGION_LAB
# the region chain's region and its state reader (module-scoped fixtures, shared)
from tests.lab.test_upgrade_region import region, state  # noqa: F401  pylint: disable=unused-import
from tests.lab.test_rollback_region import rollback_extra

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(7200),
              pytest.mark.rehearsal("rabbitmq-move")]

CURRENT, TARGET = "2024.1", "2025.1"
OLD, NEW = "ctl-old", "ctl-new"
UPGRADE_ID = "%s-mq-move-2024.1-to-2025.1" % REGION_LAB
REPORT_DIR = REPO / "build" / "reports" / UPGRADE_ID
ROLLBACK_DIR = REPO / "build" / "reports" / (UPGRADE_ID + "-rollback")
UPGRADE = REPO / "lab" / "playbooks" / "upgrade_region.yml"
PROBE = REPO / "lab" / "playbooks" / "probe.yml"
ACKS = REPO / "lab" / "inventory" / "acknowledgements-2025.1.yml"
FIGURES_FILE = REPO / "build" / "lab" / "rabbitmq-move-figures.json"
FIGURES = {}
READS = ["keystone", "glance", "placement", "nova", "neutron", "cinder"]
WRITES = ["neutron", "cinder", "glance"]
# programs (oslo.messaging's connection name) that must end up on the new broker
SERVICES = {"nova-conductor", "nova-scheduler", "nova-compute", "neutron-server", "neutron-openvswitch-agent",
            "neutron-dhcp-agent", "cinder-scheduler", "cinder-volume"}
NOTIFY_VHOST = "notifications"
CONFIGS = {NEW: ["/etc/nova/nova.conf", "/etc/neutron/neutron.conf", "/etc/cinder/cinder.conf"],
           "cmp1": ["/etc/nova/nova.conf", "/etc/neutron/neutron.conf"],
           "cmp2": ["/etc/nova/nova.conf", "/etc/neutron/neutron.conf"]}


def _save():
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True) + "\n")


def rabbitmqctl(region, host, *args):
    return json.loads(region.exec(host, "rabbitmqctl", "-q", *args, "--formatter", "json").stdout or "[]")


def clients(region, host):
    """{program: count} of the broker's connections that are not federation links."""
    found = {}
    for conn in rabbitmqctl(region, host, "list_connections", "client_properties"):
        props = {p[0]: p[-1] for p in conn["client_properties"]}
        if props.get("product") == "RabbitMQ":
            continue
        program = str(props.get("connection_name", props.get("product", "?"))).split(":", maxsplit=1)[0]
        found[program] = found.get(program, 0) + 1
    return found


def transport_url(region, host, path, section="DEFAULT"):
    """The transport_url of ``section`` in the config at ``path`` ("" when it has none)."""
    current = None
    for line in region.exec(host, "cat", path).stdout.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.startswith("transport_url"):
            return line.split("=", 1)[1].strip()
    return ""


def notifications_waiting(region, host):
    """{queue: messages} of the notification vhost of ``host``'s broker."""
    return {q["name"]: q["messages"]
            for q in rabbitmqctl(region, host, "list_queues", "-p", NOTIFY_VHOST, "name", "messages")}


def probe(region, action, **extra):
    run = run_playbook(region, PROBE, "mq-probe-%s" % action, dict(lab_probe_action=action, **extra))
    assert run.rc == 0, run.text[-3000:]
    if action == "report":
        return json.loads((REPO / "build" / "lab" / "probe-report.json").read_text())
    return None


@pytest.fixture(scope="module")
def addresses(region):
    return side_addresses(region, OLD, NEW, "stackhop_transport_url_new", "new side's RabbitMQ", "mqmove",
                          "rabbitmq-move")


@pytest.fixture(scope="module")
def upgraded(region, addresses, state):
    assert state.unit_release(OLD, "nova-api") == CURRENT, "this module needs a fresh lab region on 2024.1"
    # a fresh lab: an earlier lab's runs under the same upgrade id must not merge into this report
    for path in (REPORT_DIR, ROLLBACK_DIR):
        shutil.rmtree(path, ignore_errors=True)
    FIGURES["clients_before"] = {OLD: clients(region, OLD), NEW: clients(region, NEW)}
    assert not FIGURES["clients_before"][NEW], FIGURES["clients_before"]
    probe(region, "start", lab_probe_reset=True)
    extra = dict(__import__("yaml").safe_load(ACKS.read_text()) or {})
    extra.update({"stackhop_target_release": TARGET, "stackhop_control_plane_strategy": "blue_green",
                  "stackhop_upgrade_id": UPGRADE_ID, "stackhop_approval": "auto", "verify_tempest": False,
                  "control_plane_api_probe": True, "api_probe_mode": "authenticated",
                  "api_probe_writes": WRITES})
    run = run_playbook(region, UPGRADE, "mq-move-upgrade", extra, report_dir=REPORT_DIR, timeout=6000)
    vms = probe(region, "report")
    rep = report(REPORT_DIR)
    api = {e["service"]: e for e in rep.get("api") or []}
    FIGURES["upgrade"] = {"rc": run.rc, "total_s": round(run.seconds), "log": str(run.log),
                          "api_down_s": api_downtime(REPORT_DIR), "vm_icmp": vms.get("icmp"),
                          "vm_tcp": vms.get("tcp")}
    FIGURES["reads"] = {s: probe_check_figures(api.get(s, {}).get("reads")) for s in READS}
    FIGURES["writes"] = {s: probe_check_figures(api.get(s, {}).get("writes")) for s in WRITES}
    FIGURES["clients_after"] = {OLD: clients(region, OLD), NEW: clients(region, NEW)}
    FIGURES["notifications_waiting"] = notifications_waiting(region, NEW)
    _save()
    log("rabbitmq-move: %s -> %s blue-green with the broker: %s" % (CURRENT, TARGET, json.dumps(FIGURES, indent=1)))
    return run


def test_the_upgrade_moves_the_broker_without_losing_a_packet(upgraded):
    assert upgraded.rc == 0, upgraded.text[-6000:]
    icmp, tcp = FIGURES["upgrade"]["vm_icmp"], FIGURES["upgrade"]["vm_tcp"]
    assert icmp["sent"] > 1000 and icmp["lost"] == 0, icmp
    assert tcp["resets"] == 0, tcp
    assert all(FIGURES["writes"][s]["calls"] > 0 for s in WRITES), FIGURES["writes"]


def test_every_service_uses_the_new_broker_and_the_old_one_is_free(upgraded, region, addresses):
    after = FIGURES["clients_after"]
    assert not after[OLD], after
    assert SERVICES <= set(after[NEW]), after
    for host in (OLD, NEW):
        assert rabbitmqctl(region, host, "list_policies") == [], host
        assert rabbitmqctl(region, host, "list_parameters") == [], host
    left = [q for q in rabbitmqctl(region, OLD, "list_queues", "name", "messages") if q["messages"]]
    assert left == [], left
    for host, paths in CONFIGS.items():
        for path in paths:
            assert "@%s:" % addresses[NEW] in transport_url(region, host, path), (host, path)
    cells = region.exec(OLD, "mariadb", "-N", "-B", "-e",
                        "SELECT name, transport_url FROM nova_api.cell_mappings WHERE name='cell1'").stdout
    assert "@%s:" % addresses[NEW] in cells, "cell1's mapping names the old broker"


def test_the_moved_services_notify_on_their_own_transport(upgraded, region, addresses):
    for host, paths in CONFIGS.items():
        for path in paths:
            url = transport_url(region, host, path, "oslo_messaging_notifications")
            assert url.endswith("@%s:5672/%s" % (addresses[NEW], NOTIFY_VHOST)), (host, path, url)
    # the probe's writes (a port, a volume, an image) were notified: nobody reads them here
    waiting = FIGURES["notifications_waiting"]
    assert sum(waiting.values()) > 0, waiting
    print("\nnotifications waiting on %s's vhost %s after the move: %s" % (NEW, NOTIFY_VHOST, waiting))


@pytest.fixture(scope="module")
def rolled_back(upgraded, region):
    assert upgraded.rc == 0, "the rollback needs the upgrade to have passed"
    probe(region, "start", lab_probe_reset=True)
    run = run_playbook(region, REPO / "playbooks" / "rollback.yml", "mq-move-rollback",
                       rollback_extra(UPGRADE_ID, ROLLBACK_DIR), report_dir=ROLLBACK_DIR, timeout=5000)
    vms = probe(region, "report")
    FIGURES["rollback"] = {"rc": run.rc, "total_s": round(run.seconds), "log": str(run.log),
                           "vm_icmp": vms.get("icmp"), "vm_tcp": vms.get("tcp"),
                           "clients": {OLD: clients(region, OLD), NEW: clients(region, NEW)}}
    _save()
    log("rabbitmq-move: rollback to %s: %s" % (CURRENT, json.dumps(FIGURES["rollback"], indent=1)))
    return run


def test_rollback_brings_every_service_back_to_the_old_broker(rolled_back, region, addresses):
    assert rolled_back.rc == 0, rolled_back.text[-6000:]
    figures = FIGURES["rollback"]
    assert figures["vm_icmp"]["sent"] > 1000 and figures["vm_icmp"]["lost"] == 0, figures["vm_icmp"]
    assert figures["vm_tcp"]["resets"] == 0, figures["vm_tcp"]
    assert not figures["clients"][NEW], figures["clients"]
    assert SERVICES <= set(figures["clients"][OLD]), figures["clients"]
    for host in (OLD, NEW):
        assert rabbitmqctl(region, host, "list_policies") == [], host
        assert rabbitmqctl(region, host, "list_parameters") == [], host
    for host, path in ((OLD, "/etc/neutron/neutron.conf"), ("cmp1", "/etc/nova/nova.conf"),
                       ("cmp2", "/etc/neutron/neutron.conf")):
        assert "@%s:" % addresses[OLD] in transport_url(region, host, path), (host, path)
        assert transport_url(region, host, path, "oslo_messaging_notifications") == "", (host, path)
