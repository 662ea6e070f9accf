# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filter stackhop.upgrade.lb_servers: the HAProxy servers that stand for some controllers in
the backends of one component (docs in lb_servers.yml). The rolling strategy drains them one
controller at a time; endpoint_switch's haproxy method moves a component from the old
controllers' servers to the new ones'."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def _server_name(hostvars, host):
    try:
        name = hostvars[host].get("stackhop_lb_server_name")
    except (KeyError, AttributeError, TypeError):
        name = None
    return str(name) if name not in (None, "") else host


def lb_servers(hosts, component, backends=None, hostvars=None):
    """``[{backend, server}]``: every backend of ``component`` (``backends[component]``,
    else a backend of the component's name) times every host of ``hosts`` (its
    ``stackhop_lb_server_name``, else its inventory name), backend by backend."""
    if isinstance(hosts, str):
        hosts = [hosts]
    if not component:
        raise AnsibleFilterError("lb_servers needs the component whose backends are meant")
    names = (backends or {}).get(component) or [component]
    if isinstance(names, str):
        names = [names]
    return [{"backend": str(backend), "server": _server_name(hostvars or {}, host)}
            for backend in names for host in hosts]


class FilterModule(object):
    def filters(self):
        return {"lb_servers": lb_servers}
