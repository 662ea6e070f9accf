# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations


class ModuleDocFragment:
    # How the RabbitMQ modules reach a node: rabbitmqctl, as root, which reads the Erlang cookie.
    DOCUMENTATION = r"""
options:
  rabbitmqctl:
    description: The C(rabbitmqctl) to run (a path, or a name on PATH). It runs as root, which reads the Erlang cookie.
    type: str
    default: rabbitmqctl
  node:
    description: The node to ask (C(rabbitmqctl -n)); by default the local node.
    type: str
"""
