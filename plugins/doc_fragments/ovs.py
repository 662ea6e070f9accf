# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations


class ModuleDocFragment:
    # Options every stackhop Open vSwitch module shares.
    DOCUMENTATION = r"""
options:
  ovs_rundir:
    description:
      - Directory of the Open vSwitch run-time files.
      - The module talks to C(<ovs_rundir>/db.sock) (ovsdb-server) and to each bridge's
        OpenFlow management socket C(<ovs_rundir>/<bridge>.mgmt) (ovs-vswitchd).
    type: path
    default: /var/run/openvswitch
notes:
  - Reads and writes Open vSwitch's database over its JSON-RPC socket, so values are
    parsed as JSON and a run's whole change set is one OVSDB transaction.
"""
