"""The move to a new RabbitMQ is decided once per run (playbooks/_rabbitmq_move.yml):
upgrade_region.yml decides it first, from the inventory; the upgrade then points each moved
host's stackhop_transport_url at the new broker, and the bridge down's import of the same
playbook keeps the run's decision. Deciding again there read the new broker as the old one
and refused the move (the rabbitmq-move rehearsal, session 35)."""

from __future__ import annotations

import json

from tests.lib.ansible_runner import REPO, run_playbook

PLAYBOOK = REPO / "tests" / "scope" / "playbooks" / "rabbitmq_move_once.yml"
OLD_URL = "rabbit://openstack:pw@10.0.0.1:5672/"
NEW_URL = "rabbit://openstack:pw@10.0.0.2:5672/"


def test_a_host_pointed_at_the_new_broker_does_not_change_the_runs_decision(tmp_path):
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "stackhop_transport_url": OLD_URL,
                 "stackhop_transport_url_new": NEW_URL},
        "children": {"stackhop_controllers": {"hosts": {"ctl-old": {}}},
                     "stackhop_controllers_new": {"hosts": {"ctl-new": {}}},
                     "stackhop_rabbitmq": {"hosts": {"ctl-old": {}}},
                     "stackhop_rabbitmq_new": {"hosts": {"ctl-new": {}}}}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    out = tmp_path / "decision.json"
    proc = run_playbook(PLAYBOOK, inventory=tmp_path / "hosts.yml",
                        extra_vars={"rabbitmq_move_file": str(out)}, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    decision = json.loads(out.read_text())
    assert decision["moves"] is True
    assert (decision["old"]["host"], decision["old"]["url"]) == ("ctl-old", OLD_URL)
    assert (decision["new"]["host"], decision["new"]["url"]) == ("ctl-new", NEW_URL)
