"""ini_edit: oslo.config's reading of an INI text, and edits that keep every other byte."""

from __future__ import annotations

import difflib
import random

import pytest

from ansible_collections.stackhop.upgrade.plugins.module_utils.ini_edit import (
    IniText,
    apply_edits,
    format_value,
    parse_value,
)

SAMPLE = """# nova.conf of compute-3, hand-kept since kilo
[DEFAULT]
# keep debug off: the logs fill /var
debug = False
my_ip=10.0.0.3
#osapi_max_limit = 1000
osapi_max_limit : 500
transport_url = rabbit://nova:secret@ctl1:5672,nova:secret@ctl2:5672/

[Libvirt]
virt_type = kvm
cpu_mode=custom
cpu_model = Haswell-noTSX

[pci]
passthrough_whitelist = {"vendor_id": "8086", "product_id": "10fb"}
passthrough_whitelist = {"vendor_id": "8086", "product_id": "1572"}
alias = {
    "name": "a1"}

;[glance]
;api_servers = http://old:9292
[DEFAULT]
quota_cores = 40
"""

CORPUS = [
    SAMPLE,
    "",
    "\n\n",
    "[DEFAULT]",
    "[DEFAULT]\nfoo = bar",
    "[DEFAULT]\r\nfoo = bar\r\n\r\n# c\r\n",
    "\ufeff# bom\n[DEFAULT]\n",
    "key_before_section = 1\n[a]\n   stray indented\n",
    "[a]\nk = 'quoted'\nj = \"  spaced  \"\nempty =\n  \t\n[b]\n",
    "[a]\nk = v   \t\n\tcontinued\n\n[]\n[broken\nnot an assignment\n",
    "[a]\nk = x\x0cy\u2028z\x1c\n# \x85 \x0b\n",
]


@pytest.mark.parametrize("text", CORPUS)
def test_no_edit_is_byte_identical(text):
    assert IniText(text).render() == text
    assert apply_edits(text, []) == text


def test_scan_reads_as_oslo_config():
    found = [(a.group, a.key, a.value) for a in IniText(SAMPLE).assignments()]
    assert found == [
        ("DEFAULT", "debug", "False"),
        ("DEFAULT", "my_ip", "10.0.0.3"),
        ("DEFAULT", "osapi_max_limit", "500"),
        ("DEFAULT", "transport_url", "rabbit://nova:secret@ctl1:5672,nova:secret@ctl2:5672/"),
        ("libvirt", "virt_type", "kvm"),
        ("libvirt", "cpu_mode", "custom"),
        ("libvirt", "cpu_model", "Haswell-noTSX"),
        ("pci", "passthrough_whitelist", '{"vendor_id": "8086", "product_id": "10fb"}'),
        ("pci", "passthrough_whitelist", '{"vendor_id": "8086", "product_id": "1572"}'),
        ("pci", "alias", '{\n"name": "a1"}'),
        ("DEFAULT", "quota_cores", "40"),
    ]
    assert IniText(SAMPLE).values("Libvirt", "virt_type") == ["kvm"]


def changed_lines(before, after):
    return [line for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                                  n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_set_updates_in_place_keeping_spacing_and_separator():
    after = apply_edits(SAMPLE, [
        {"action": "set", "section": "DEFAULT", "option": "my_ip", "values": ["10.0.0.4"]},
        {"action": "set", "section": "DEFAULT", "option": "osapi_max_limit", "values": ["800"]},
    ])
    assert changed_lines(SAMPLE, after) == [
        "-my_ip=10.0.0.3\n", "+my_ip=10.0.0.4\n",
        "-osapi_max_limit : 500\n", "+osapi_max_limit : 800\n"]


def test_set_same_value_is_no_change():
    doc = IniText(SAMPLE)
    assert doc.set("libvirt", "virt_type", "kvm") is False
    assert doc.render() == SAMPLE


def test_set_missing_option_goes_after_the_last_option_of_its_section():
    after = apply_edits(SAMPLE, [
        {"action": "set", "section": "libvirt", "option": "cpu_models", "values": ["Haswell"]}])
    assert "cpu_model = Haswell-noTSX\ncpu_models = Haswell\n\n[pci]" in after
    assert len(changed_lines(SAMPLE, after)) == 1


def test_set_missing_option_in_the_last_block_of_a_repeated_section():
    after = apply_edits(SAMPLE, [
        {"action": "set", "section": "DEFAULT", "option": "debug", "values": ["True"]},
        {"action": "set", "section": "DEFAULT", "option": "state_path", "values": ["/srv"]}])
    assert after.endswith("quota_cores = 40\nstate_path = /srv\n")
    assert "debug = True\n" in after


def test_set_in_section_with_only_comments_goes_after_header():
    text = "[api]\n#\n# From nova.conf\n#\n\n#max_limit = 1000\n"
    after = apply_edits(text, [{"action": "set", "section": "api", "option": "max_limit",
                                "values": ["500"]}])
    assert after == "[api]\nmax_limit = 500\n#\n# From nova.conf\n#\n\n#max_limit = 1000\n"


def test_set_missing_section_is_created_at_the_end():
    assert apply_edits("[DEFAULT]\nfoo = 1", [
        {"action": "set", "section": "quota", "option": "cores", "values": ["40"]}]) == (
        "[DEFAULT]\nfoo = 1\n\n[quota]\ncores = 40\n")
    assert apply_edits("[DEFAULT]\r\nfoo = 1\r\n\r\n", [
        {"action": "set", "section": "quota", "option": "cores", "values": ["40"]}]) == (
        "[DEFAULT]\r\nfoo = 1\r\n\r\n[quota]\r\ncores = 40\r\n")
    assert apply_edits("", [{"action": "set", "section": "a", "option": "b",
                             "values": ["c"]}]) == "[a]\nb = c\n"


def test_set_replaces_a_multi_line_value_and_its_continuations():
    after = apply_edits(SAMPLE, [{"action": "set", "section": "pci", "option": "alias",
                                  "values": ['{"name": "a2"}']}])
    assert 'alias = {"name": "a2"}\n\n;[glance]' in after
    assert '"name": "a1"' not in after


def test_set_single_valued_updates_the_last_occurrence_only():
    text = "[DEFAULT]\nfoo = 1\n# later\nfoo = 2\n"
    assert apply_edits(text, [{"action": "set", "section": "DEFAULT", "option": "foo",
                               "values": ["3"]}]) == "[DEFAULT]\nfoo = 1\n# later\nfoo = 3\n"


def test_set_multi_valued_rewrites_repeated_keys_in_place():
    doc = IniText(SAMPLE)
    assert doc.set("pci", "passthrough_whitelist", ["a", "b", "c"], multi=True)
    assert doc.values("pci", "passthrough_whitelist") == ["a", "b", "c"]
    assert "passthrough_whitelist = a\npassthrough_whitelist = b\npassthrough_whitelist = c\n" \
        "alias" in doc.render()
    assert doc.set("pci", "passthrough_whitelist", ["a"], multi=True)
    assert doc.values("pci", "passthrough_whitelist") == ["a"]
    assert doc.set("pci", "passthrough_whitelist", ["a"], multi=True) is False


def test_single_valued_set_refuses_several_values():
    with pytest.raises(ValueError):
        IniText(SAMPLE).set("DEFAULT", "debug", ["a", "b"])


def test_remove_deletes_only_its_lines():
    after = apply_edits(SAMPLE, [{"action": "remove", "section": "pci", "option": "alias"},
                                 {"action": "remove", "section": "DEFAULT",
                                  "option": "quota_cores"}])
    assert changed_lines(SAMPLE, after) == [
        "-alias = {\n", '-    "name": "a1"}\n', "-quota_cores = 40\n"]
    assert IniText(SAMPLE).remove("nope", "nothing") is False


def test_file_without_final_newline():
    after = apply_edits("[a]\nk = 1", [{"action": "set", "section": "a", "option": "k",
                                        "values": ["2"]}])
    assert after == "[a]\nk = 2\n"
    after = apply_edits("[a]\nk = 1", [{"action": "set", "section": "a", "option": "j",
                                        "values": ["2"]}])
    assert after == "[a]\nk = 1\nj = 2\n"


@pytest.mark.parametrize("value", ["plain", "", "  lead", "trail ", "\"q\"", "'", "a=b:c",
                                   "x # not a comment"])
def test_values_round_trip_through_oslo_reading(value):
    assert parse_value(format_value(value)) == value
    doc = IniText("[a]\nk = old\n")
    doc.set("a", "k", value)
    assert IniText(doc.render()).values("a", "k") == [value]


def test_random_edits_touch_only_their_lines():
    rng = random.Random(17)
    base = IniText(SAMPLE).assignments()
    for _round in range(200):
        doc = IniText(SAMPLE)
        target = rng.choice(base)
        if target.group is None:
            continue
        if rng.random() < 0.5:
            doc.remove(target.group, target.key)
            expect = [a for a in base if (a.group, a.key) != (target.group, target.key)]
            assert [(a.group, a.key, a.value) for a in doc.assignments()] == [
                (a.group, a.key, a.value) for a in expect]
        else:
            doc.set(target.group, target.key, "v%d" % _round)
            assert doc.values(target.group, target.key)[-1] == "v%d" % _round
        removed = [line for line in changed_lines(SAMPLE, doc.render()) if line[0] == "-"]
        lines = SAMPLE.splitlines(True)
        touched = set()
        for a in base:
            if (a.group, a.key) == (target.group, target.key):
                touched.update(lines[a.start:a.end])
        assert set(line[1:] for line in removed) <= touched


def test_only_newline_ends_a_line():
    assert IniText("[a]\nk = x\x0cy\u2028z\n").values("a", "k") == ["x\x0cy\u2028z"]


def test_masked_hides_secret_values_only():
    text = "[DEFAULT]\ntransport_url=rabbit://u:p@h/\ndebug = 1\n[db]\npassword = a\n  b\n"
    shown = IniText(text).masked(lambda g, k: k in ("transport_url", "password"))
    assert shown == "[DEFAULT]\ntransport_url=********\ndebug = 1\n[db]\npassword = ********\n"
