"""bind_client_address: where a client on the node reaches a service bound to an address."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.bind_address import bind_client_address


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", "[::]", "*", "", None, " 0.0.0.0 "])
def test_a_wildcard_is_reached_at_the_node_address(wildcard):
    assert bind_client_address(wildcard, "10.20.0.11") == "10.20.0.11"


def test_one_address_is_reached_there_only():
    assert bind_client_address("10.20.0.12", "10.20.0.11") == "10.20.0.12"
    assert bind_client_address("ctl2.mgmt", "10.20.0.11") == "ctl2.mgmt"


def test_the_node_address_is_required():
    with pytest.raises(AnsibleFilterError, match="ansible_host"):
        bind_client_address("0.0.0.0", "")
