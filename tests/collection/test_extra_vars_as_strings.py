"""`-e key=value` gives strings: every public boolean is read as ``name | bool`` and every
public number used in arithmetic or a comparison as ``name | int`` (or ``| float``).

The convention (README, "Variables from the command line"), checked here over every role
and playbook, the lab's too: a public variable is typed when a role's argument spec gives it type
bool/int/float, or when the collection's defaults or example inventories give a
``stackhop_*`` variable a YAML boolean or number, or when a documented ``-e`` example
passes it ``true``/``false``/a number. ``name | default(x) | bool`` counts as converted.
The documented examples of the plan playbook (the one that runs without a lab) are run in
their string form; the region upgrade's are run by the main job (scripts/main.sh), which
CI runs.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.lib.ansible_runner import REPO, VENV, ansible_env

CONVERTERS = {"bool": ("bool",), "int": ("int", "float"), "float": ("float", "int")}
EXAMPLE = re.compile(r"-e ([a-z_]+)=([^\s`'\"\]]+)")
# the collection's roles and playbooks, and the lab's (scripts/main.sh runs them with -e too)
SOURCES = sorted(p for p in list((REPO / "roles").rglob("*")) + list((REPO / "playbooks").glob("*.yml"))
                 + list((REPO / "lab" / "roles").rglob("*")) + list((REPO / "lab" / "playbooks").glob("*.yml"))
                 if p.is_file() and p.suffix in (".yml", ".yaml", ".j2")
                 and p.name != "argument_specs.yml")
DOCS = sorted(list((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
              + list((REPO / "playbooks").glob("*.yml")) + list((REPO / "scripts").glob("*.sh")))


def _yaml_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return None


def _example_type(text):
    if text in ("true", "false", "yes", "no"):
        return "bool"
    if re.fullmatch(r"-?\d+", text):
        return "int"
    return None


@functools.lru_cache(maxsize=None)
def typed_variables():
    """{name: 'bool'|'int'|'float'} of every public variable with a type."""
    types = {}
    for spec in list((REPO / "roles").glob("*/meta/argument_specs.yml")) + list(
            (REPO / "lab" / "roles").glob("*/meta/argument_specs.yml")):
        for entry in (yaml.safe_load(spec.read_text()).get("argument_specs") or {}).values():
            for name, opt in (entry.get("options") or {}).items():
                if opt.get("type") in CONVERTERS:
                    types[name] = opt["type"]
    for path in list((REPO / "inventories").rglob("*.yml")) + list((REPO / "roles").glob("*/defaults/main.yml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict):
            for name, value in data.items():
                if str(name).startswith("stackhop_") and _yaml_type(value):
                    types.setdefault(name, _yaml_type(value))
    for path in DOCS:
        for name, value in EXAMPLE.findall(path.read_text()):
            if _example_type(value):
                types.setdefault(name, _example_type(value))
    return types


ARITH_AFTER = re.compile(r"\s*(?:[-+*/%<>]|==|!=)")
ARITH_BEFORE = re.compile(r"(?:[-+*/%<>]|==|!=)\s*$")


def unconverted_reads(text, types):
    """[(line number, name, line)] of reads that a string from ``-e`` would break."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line if "{" in line or ":" not in line.split("#")[0] else line
        stripped = code.lstrip()
        if stripped.startswith("#"):
            continue
        for name, kind in types.items():
            for match in re.finditer(r"(?<![\w.'\"-])%s\b(?!\s*:(?!:))" % re.escape(name), code):
                after = code[match.end():]
                before = code[:match.start()]
                conv = re.match(r"\s*(?:\|\s*default\((?:[^()]|\([^()]*\))*\)\s*)?\|\s*(\w+)", after)
                if conv and conv.group(1) in CONVERTERS[kind]:
                    continue
                if re.match(r"\s*is\s+(?:not\s+)?(?:defined|undefined|none)\b", after):
                    continue
                if kind == "bool" or ARITH_AFTER.match(after) or ARITH_BEFORE.search(before):
                    out.append((lineno, name, line.strip()))
    return out


def test_the_typed_variables_are_found():
    types = typed_variables()
    assert types.get("lab_probe_reset") == "bool"
    assert types.get("stackhop_compute_batch_percent") == "int"
    assert types.get("control_plane_api_probe") == "bool"


def test_the_checker_catches_a_bare_boolean_and_arithmetic():
    types = {"x_flag": "bool", "x_timeout": "int"}
    bad = unconverted_reads('when: x_flag\nretries: "{{ (x_timeout / 3) | int }}"\n', types)
    assert [b[1] for b in bad] == ["x_flag", "x_timeout"]
    good = ('when: x_flag | default(false) | bool\nretries: "{{ (x_timeout | int / 3) | int }}"\n'
            'url: "http://h:{{ x_timeout }}/"\nwhen: x_flag is defined\nx_flag: {type: bool}\n')
    assert unconverted_reads(good, types) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_typed_variable_is_converted_where_it_is_read(path):
    bad = unconverted_reads(path.read_text(), typed_variables())
    assert not bad, "%s reads %s without `| bool` / `| int`: `-e key=value` gives a string" % (
        path.relative_to(REPO), "; ".join("line %d: %s (%s)" % b for b in bad))


PLAN_EXAMPLES = [
    ["-e", "stackhop_plan_offline=true", "-e", "stackhop_target_release=2025.1"],
    ["-e", "stackhop_plan_offline=yes", "-e", "stackhop_target_release=2025.1",
     "-e", "stackhop_compute_batch_percent=50", "-e", "stackhop_compute_canary_size=2"],
]


@pytest.mark.parametrize("extra", PLAN_EXAMPLES, ids=["offline", "batches"])
def test_the_plan_runs_with_its_examples_as_strings(tmp_path, extra):
    argv = [str(VENV / "bin" / "ansible-playbook"), "-i", str(REPO / "lab" / "inventory" / "hosts.yml"),
            str(REPO / "playbooks" / "plan.yml"), "-e", "stackhop_plan_dir=%s" % tmp_path] + extra
    proc = subprocess.run(argv, env=ansible_env(), cwd=str(REPO), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert list(tmp_path.glob("plan-*.json")), proc.stdout[-2000:]


def test_the_main_job_passes_its_values_as_strings():
    """scripts/main.sh is what a user types: its -e values stay strings (no JSON)."""
    text = (REPO / "scripts" / "main.sh").read_text()
    assert "-e lab_probe_reset=true" in text and "-e control_plane_api_probe=true" in text
    assert not re.search(r"-e\s+'?\{", text), "main.sh must pass -e key=value as a user does"


if __name__ == "__main__":  # list the violations
    for src in SOURCES:
        for item in unconverted_reads(src.read_text(), typed_variables()):
            print("%s:%d %s: %s" % ((src.relative_to(REPO),) + item))
    print(Path(__file__).name)
