"""plugins/filter/haproxy.py: the HAProxy servers of some controllers in a component's backends."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.haproxy import lb_servers

HOSTVARS = {"ctl1": {"stackhop_lb_server_name": "infra1_nova_api"}, "ctl2": {}}


def test_every_backend_of_the_component_times_every_host_backend_by_backend():
    backends = {"nova": ["nova_api_os_compute", "nova_metadata"]}
    assert lb_servers(["ctl1", "ctl2"], "nova", backends, HOSTVARS) == [
        {"backend": "nova_api_os_compute", "server": "infra1_nova_api"},
        {"backend": "nova_api_os_compute", "server": "ctl2"},
        {"backend": "nova_metadata", "server": "infra1_nova_api"},
        {"backend": "nova_metadata", "server": "ctl2"}]


def test_a_component_not_named_has_a_backend_of_its_own_name_and_one_host_may_be_a_string():
    assert lb_servers("ctl3", "glance", {"nova": ["x"]}) == [{"backend": "glance", "server": "ctl3"}]


def test_no_component_is_refused():
    with pytest.raises(AnsibleFilterError, match="needs the component"):
        lb_servers(["ctl1"], "")
