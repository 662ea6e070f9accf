# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.rabbitmq_move: whether the services move to a new RabbitMQ
during a blue-green upgrade, and the federation upstreams of the bridge between the two
brokers (the decisions in plugins/module_utils/rabbitmq_bridge.py; docs in
rabbitmq_move.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import rabbitmq_bridge as decide


def rabbitmq_move(strategy, old_hosts, new_hosts, old_url, new_url="", adopted=None, notification_url="",
                  notification_url_new=""):
    """{moves, old, new, upstreams} of this run (rabbitmq_bridge.broker_move)."""
    try:
        return decide.broker_move(strategy, list(old_hosts or []), list(new_hosts or []), old_url, new_url,
                                  list(adopted or []), notification_url, notification_url_new)
    except decide.BridgeError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    """stackhop.upgrade.rabbitmq_move."""

    def filters(self):
        return {"rabbitmq_move": rabbitmq_move}
