#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tempest_run
short_description: Run tempest's smoke tests, save the results and compare them with a run before the upgrade
version_added: 0.3.0
description:
  - Runs C(tempest run --smoke) (or O(regex)) from the tempest virtualenv O(tempest) in the
    workspace O(workspace) with O(config_file), reads the run back from stestr's repository
    (C(stestr last --subunit), a subunit v2 stream read with python-subunit, never tempest's printed
    text) and
    saves every test's result (passed, failed or skipped) in O(results_file) as JSON.
  - With O(compare_with) (the results saved before the upgrade) it lists every test that
    passed before and fails after (or did not run after), and the passed, failed and
    skipped counts per service before and after; with O(fail=true) such a test fails the
    task with one sentence naming them.
  - With O(upgrade_id) and O(keep) an existing O(results_file) of the same upgrade is kept
    and tempest does not run again (a resumed upgrade compares with the region as it was
    before it started).
  - Changed only when it writes a baseline that is kept (O(keep), the run before the upgrade). A run
    that checks (after the upgrade) changes nothing of the cloud's state, and its results file
    is a report, so a second run of a finished upgrade, which checks again, is not changed.
  - No credential is on a command line; they are in O(config_file) (stackhop.upgrade.tempest_config).
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  tempest:
    description: The tempest virtualenv (its C(bin/tempest), C(bin/stestr) and C(bin/python)); run the module with that C(bin/python).
    type: path
    required: true
  workspace:
    description: The directory tempest runs in (its C(.stestr.conf) and C(.stestr) repository are written there).
    type: path
    required: true
  config_file:
    description: The tempest.conf.
    type: path
    required: true
  regex:
    description: Tests run (C(tempest run --regex)); empty runs the smoke tests (C(--smoke)).
    type: str
    default: ''
  exclude_regex:
    description: Tests left out (C(--exclude-regex)); empty leaves none out.
    type: str
    default: ''
  concurrency:
    description: Test workers (C(--concurrency)).
    type: int
    default: 2
  results_file:
    description: Where this run's results are saved (JSON, mode 0600).
    type: path
    required: true
  label:
    description: What the run is, saved with it (V(before) or V(after)).
    type: str
    default: after
  compare_with:
    description: The results saved before the upgrade; empty compares with nothing.
    type: path
    default: ''
  upgrade_id:
    description: The upgrade this run belongs to, saved with the results.
    type: str
    default: ''
  keep:
    description: Keep O(results_file) when it holds a run of the same non-empty O(upgrade_id) (tempest does not run again).
    type: bool
    default: false
  timeout:
    description: Seconds tempest may run.
    type: int
    default: 3600
  fail:
    description: Fail when a test passed before and fails after.
    type: bool
    default: false
attributes:
  check_mode:
    support: partial
    details: Nothing runs; reports the command it would run and the saved results it would compare with.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Run tempest after the upgrade and compare with the run before it
  stackhop.upgrade.tempest_run:
    tempest: /opt/stackhop/tempest/47.0.0
    workspace: /var/lib/stackhop/tempest/region1
    config_file: /var/lib/stackhop/tempest/region1/etc/tempest.conf
    results_file: /var/lib/stackhop/tempest/region1/after-tempest.json
    compare_with: /var/lib/stackhop/inventories/region1/before-tempest.json
    fail: false
  register: tempest
"""

RETURN = r"""
tests:
  description: Every test's result, test id (without tempest's attributes) to passed, failed or skipped.
  returned: always
  type: dict
counts:
  description: Per service (keystone, nova, glance, neutron, cinder, swift, scenario), passed, failed and skipped.
  returned: always
  type: dict
before_counts:
  description: The same of the run compared with; null without one.
  returned: always
  type: dict
table:
  description: Rows C(service), C(before), C(after) (each passed, failed, skipped; before null without a run to compare with).
  returned: always
  type: list
  elements: dict
regressions:
  description: Tests that passed before and fail after - C(test), C(before), C(after).
  returned: always
  type: list
  elements: dict
passed_then_skipped:
  description: Tests that passed before and were skipped after.
  returned: always
  type: list
  elements: str
seconds:
  description: Seconds tempest ran (of the kept run when kept).
  returned: always
  type: float
kept:
  description: The results of an earlier run of the same upgrade were kept.
  returned: always
  type: bool
compared:
  description: Whether a run before was found and compared.
  returned: always
  type: bool
message:
  description: One sentence - the regressions, or what passed.
  returned: always
  type: str
"""

import json
import os
import tempfile
import time

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils.tempest import (
    compare,
    counts,
    regression_sentence,
    results,
    results_kept,
    subunit_events,
    table,
)

STESTR_CONF = "[DEFAULT]\ntest_path=%s/test_discover\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n"


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tempest-results-")
    with os.fdopen(handle, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class TempestRun(StackhopModule):
    argument_spec = dict(
        tempest=dict(type="path", required=True),
        workspace=dict(type="path", required=True),
        config_file=dict(type="path", required=True),
        regex=dict(type="str", default=""),
        exclude_regex=dict(type="str", default=""),
        concurrency=dict(type="int", default=2),
        results_file=dict(type="path", required=True),
        label=dict(type="str", default="after"),
        compare_with=dict(type="path", default=""),
        upgrade_id=dict(type="str", default=""),
        keep=dict(type="bool", default=False),
        timeout=dict(type="int", default=3600),
        fail=dict(type="bool", default=False),
    )

    def bin(self, name):
        return self.command_path(os.path.join(self.params["tempest"], "bin", name), name,
                                 "build the tempest virtualenv there (the verify role's tempest tasks ship it)")

    def command(self, argv, data=None, binary=False):
        self.executed_commands.append(" ".join(argv))
        rc, out, err = self.ansible.run_command(argv, cwd=self.params["workspace"], data=data,
                                                binary_data=binary, encoding=None if binary else "utf-8")
        return rc, out, err

    def selection(self):
        return {"regex": self.params["regex"], "exclude_regex": self.params["exclude_regex"]}

    def argv(self):
        p = self.params
        argv = [os.path.join(p["tempest"], "bin", "tempest"), "run", "--config-file", p["config_file"],
                "--concurrency", str(p["concurrency"])]
        argv += ["--regex", p["regex"]] if p["regex"] else ["--smoke"]
        if p["exclude_regex"]:
            argv += ["--exclude-regex", p["exclude_regex"]]
        return argv

    def tempest_run(self):
        """Run tempest; return (its results, seconds)."""
        p = self.params
        tempest = self.bin("tempest")
        python = self.bin("python")
        if not os.path.exists(p["config_file"]):
            raise StackhopError("tempest.conf %s does not exist; write it first (stackhop.upgrade.tempest_config)"
                                % p["config_file"])
        rc, out, err = self.command([python, "-c", "import os, tempest; print(os.path.dirname(tempest.__file__))"])
        if rc != 0:
            raise StackhopError("tempest is not importable by %s (%s); rebuild the tempest virtualenv"
                                % (python, (err or out).strip()[-200:]))
        package = out.strip()
        os.makedirs(os.path.join(p["workspace"], "logs"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(p["workspace"], "lock"), mode=0o700, exist_ok=True)
        with open(os.path.join(p["workspace"], ".stestr.conf"), "w") as handle:
            handle.write(STESTR_CONF % (package, os.path.dirname(package)))
        started = time.monotonic()
        argv = self.argv()
        argv[0] = tempest
        rc, out, err = self.command(["timeout", str(p["timeout"])] + argv)
        seconds = round(time.monotonic() - started, 1)
        with open(os.path.join(p["workspace"], "logs", "run-%s.log" % p["label"]), "w") as handle:
            handle.write(out + err)
        if rc == 124:
            raise StackhopError("tempest ran longer than %d s on %s and was stopped; raise verify_tempest_timeout "
                                "or run fewer tests (verify_tempest_regex)" % (p["timeout"], self._host()))
        src, stream, serr = self.command([self.bin("stestr"), "last", "--subunit"], binary=True)
        if src != 0 or not stream:
            raise StackhopError("tempest left no results in %s (tempest exit code %d: %s); see %s/logs" % (
                p["workspace"], rc, ((err or out).strip().splitlines() or ["no output"])[-1][:300], p["workspace"]))
        try:
            tests = results(subunit_events(stream))
        except ImportError:
            raise StackhopError("python-subunit is not importable by this task's Python; run "
                                "stackhop.upgrade.tempest_run with the tempest venv's bin/python")
        if not tests:
            raise StackhopError("tempest ran no test in %s (exit code %d); check the selection and %s/logs"
                                % (p["workspace"], rc, p["workspace"]))
        return tests, seconds, rc

    def run(self):
        p = self.params
        saved = _read_json(p["results_file"]) if p["keep"] and p["upgrade_id"] else None
        kept = results_kept(saved, p["upgrade_id"])
        before = _read_json(p["compare_with"]) if p["compare_with"] else None
        if p["compare_with"] and before is None and os.path.exists(p["compare_with"]):
            raise StackhopError("the tempest results %s are not valid JSON; remove the file and run tempest "
                                "before the upgrade again (pre-flight)" % p["compare_with"])
        result = {"kept": kept, "compared": before is not None, "changed": False}
        if kept:
            tests, seconds, rc = saved["tests"], saved.get("seconds", 0.0), saved.get("rc")
        elif self.check_mode:
            result.update(tests={}, counts={}, before_counts=None, table=[], regressions=[],
                          passed_then_skipped=[], seconds=0.0,
                          message="check mode: would run %s" % " ".join(self.argv()))
            return result
        else:
            tests, seconds, rc = self.tempest_run()
            _write_json(p["results_file"], {"label": p["label"], "upgrade_id": p["upgrade_id"], "tests": tests,
                                            "selection": self.selection(),
                                            "seconds": seconds, "rc": rc, "counts": counts(tests),
                                            "finished": time.time()})
            result["changed"] = bool(p["keep"])
        after_counts = counts(tests)
        before_counts = counts(before["tests"]) if before else None
        # a test missing after is a regression only when both runs selected the same tests
        same = before is not None and before.get("selection") == self.selection()
        diff = compare(before["tests"], tests, missing=same) if before else {"regressions": [], "passed_then_skipped": []}
        result.update(tests=tests, counts=after_counts, before_counts=before_counts,
                      table=table(before_counts, after_counts), regressions=diff["regressions"],
                      passed_then_skipped=diff["passed_then_skipped"], seconds=seconds)
        totals = {k: sum(c[k] for c in after_counts.values()) for k in ("passed", "failed", "skipped")}
        if diff["regressions"]:
            result["message"] = regression_sentence(diff["regressions"], self._host())
        else:
            result["message"] = "tempest %s: %d passed, %d failed, %d skipped in %.0f s%s" % (
                p["label"], totals["passed"], totals["failed"], totals["skipped"], seconds,
                ", no test that passed before fails" if before else "")
        if p["fail"] and diff["regressions"]:
            raise StackhopError(result["message"], regressions=diff["regressions"], table=result["table"])
        return result


def main():
    TempestRun()()


if __name__ == "__main__":
    main()
