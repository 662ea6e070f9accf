"""ini_overrides: an operator's settings on top of a role's rendered config."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.ini_overrides import ini_overrides

RENDERED = """[DEFAULT]
debug = false
# workers of the API
osapi_compute_workers = 1

[scheduler]
max_attempts = 3
"""


def test_set_add_remove_and_keep_every_other_line():
    out = ini_overrides(RENDERED, {
        "DEFAULT": {"osapi_compute_workers": 8, "debug": None, "cpu_allocation_ratio": 4.0},
        "scheduler": {"max_attempts": 5},
        "filter_scheduler": {"enabled_filters": "ComputeFilter,ImagePropertiesFilter"},
    })
    assert out == """[DEFAULT]
# workers of the API
osapi_compute_workers = 8
cpu_allocation_ratio = 4.0

[scheduler]
max_attempts = 5

[filter_scheduler]
enabled_filters = ComputeFilter,ImagePropertiesFilter
"""


def test_booleans_lists_and_no_overrides():
    out = ini_overrides(RENDERED, {"DEFAULT": {"debug": True},
                                   "pci": {"alias": ['{"name": "a"}', '{"name": "b"}']}})
    assert "debug = true\n" in out
    assert out.endswith('[pci]\nalias = {"name": "a"}\nalias = {"name": "b"}\n')
    assert ini_overrides(RENDERED, {}) == RENDERED
    assert ini_overrides(RENDERED, None) == RENDERED


def test_applying_twice_changes_nothing_more():
    overrides = {"DEFAULT": {"osapi_compute_workers": 8}, "new": {"x": "y"}}
    once = ini_overrides(RENDERED, overrides)
    assert ini_overrides(once, overrides) == once


@pytest.mark.parametrize("overrides,words", [
    (["DEFAULT"], "must be a dict of sections"),
    ({"DEFAULT": "debug=true"}, "section [DEFAULT] must be a dict of options"),
    ({"DEFAULT": {"x": {"y": 1}}}, "[DEFAULT] x is a dict"),
])
def test_a_malformed_override_fails_naming_the_variable(overrides, words):
    with pytest.raises(AnsibleFilterError) as err:
        ini_overrides(RENDERED, overrides, "nova_controller_nova_conf_overrides")
    assert words in str(err.value) and "nova_controller_nova_conf_overrides" in str(err.value)


def test_ini_value_reads_what_oslo_config_reads():
    from ansible_collections.stackhop.upgrade.plugins.filter.ini_overrides import ini_value
    text = "[DEFAULT]\nhost = ctl1\n# host = commented\n[backend]\nhost = other\n[DEFAULT]\nhost = \"cinder\"\n"
    # a section may come twice; the last line wins, quotes removed
    assert ini_value(text, "DEFAULT", "host") == "cinder"
    assert ini_value(text, "backend", "host") == "other"
    assert ini_value(text, "DEFAULT", "my_ip") == ""
    assert ini_value(text, "DEFAULT", "my_ip", default=None) is None
    with pytest.raises(AnsibleFilterError, match="slurp"):
        ini_value(None, "DEFAULT", "host")
