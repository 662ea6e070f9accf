"""The dnf install method's decisions (plugins/module_utils/dnf_packages.py): dnf.conf's
excludes as holds, rpm's query, dnf's resolved transaction. With real dnf:
tests/packages/test_dnf_upgrade.py."""

from __future__ import annotations

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils import dnf_packages as dnf
from ansible_collections.stackhop.upgrade.plugins.module_utils.package_steps import PackageStepError

CONF = "[main]\ngpgcheck=1\n# pinned by the site\nexclude=kernel* fx-site-tool\n\n[other]\nexcludepkgs=x\n"


def test_the_sites_excludes_in_main_only_names_and_globs():
    assert dnf.parse_excludes(CONF) == ["kernel*", "fx-site-tool"]
    assert dnf.parse_excludes("") == []


def test_excludes_rewritten_in_place_with_the_key_the_site_used():
    text = dnf.with_excludes(CONF, ["kernel*", "fx-site-tool", "openvswitch3.3"])
    assert text == "[main]\ngpgcheck=1\n# pinned by the site\nexclude=kernel*,fx-site-tool,openvswitch3.3\n\n" \
                   "[other]\nexcludepkgs=x\n"
    # none left: the line goes, the comment stays
    assert dnf.with_excludes(CONF, []) == "[main]\ngpgcheck=1\n# pinned by the site\n\n[other]\nexcludepkgs=x\n"


def test_excludes_added_at_the_end_of_main_or_with_a_main():
    assert dnf.with_excludes("[main]\ngpgcheck=1\n\n[x]\na=b\n", ["nova"]) == \
        "[main]\ngpgcheck=1\nexcludepkgs=nova\n\n[x]\na=b\n"
    assert dnf.with_excludes(None, ["nova"]) == "[main]\nexcludepkgs=nova\n"
    assert dnf.with_excludes("", []) == ""


def test_rpm_query_marks_what_is_excluded_by_name_or_glob():
    out = "kernel-core\t0:5.14.0-1\tnova\nfx-nova\t1:29.0.0-1.el9\ngpg-pubkey\t0:1-1\n"
    assert dnf.parse_rpm_query(out.replace("\tnova\n", "\n"), ["kernel*"]) == {
        "kernel-core": {"version": "5.14.0-1", "selection": "hold"},
        "fx-nova": {"version": "1:29.0.0-1.el9", "selection": "install"}}


def test_transaction_in_the_shape_of_a_simulation():
    sim = dnf.simulation([("upgrade", "fx-nova", "29.0.0-1", "31.0.0-1"), ("install", "fx-newlib", None, "2.0-1"),
                          ("remove", "fx-oldlib", "1.0-1", "1.0-1")])
    assert sim == {"install": {"fx-nova": {"from": "29.0.0-1", "to": "31.0.0-1", "origin": ""},
                               "fx-newlib": {"from": None, "to": "2.0-1", "origin": ""}},
                   "remove": {"fx-oldlib": "1.0-1"}, "kept_back": []}


def test_a_name_rpm_would_not_take_is_refused():
    with pytest.raises(PackageStepError, match=r"^held package '--nodeps' is not an RPM package name"):
        dnf.check_names(["--nodeps"], "held package")
