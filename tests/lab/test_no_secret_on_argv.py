"""No secret on any command line or in any output of the lab region (issue 15, item 3).

The region chain's first module, on its region at release N (2024.1):

* the deploy (scripts/lab-up.sh, run by the ``lab_region`` fixture under
  tests/lib/argv_sampler.py) put none of the lab's secrets on the argv of any process of
  the machine: not on the controller's ssh, not on the hosts' ``/bin/sh -c``;
* ``lab/playbooks/deploy.yml --check --diff`` on the deployed region prints none of them,
  puts none on an argv, and changes nothing: in the rehearsal region-in-place (5-6 min of
  ansible on two cores, which CI's 45 minutes do not hold).
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.lab.conftest import REGION_LAB, argv_report_path
from tests.lib.ansible_runner import REPO, VENV, ansible_env
from tests.lib.argv_sampler import ArgvSampler, load_lab_secrets

pytestmark = [pytest.mark.needs_root, pytest.mark.slow, pytest.mark.timeout(5400)]


def _hits_text(hits):
    return "\n".join("pid %s: %s  [%s]" % (h["pid"], " ".join(h["argv"])[:300], h["secret"])
                     for h in hits)


def test_the_deploy_put_no_secret_on_any_argv(lab_region):
    path = argv_report_path(REGION_LAB, "deploy")
    if not path.exists():
        pytest.skip("the region was reused (STACKHOP_LAB_REGION_KEEP=1) and its deploy "
                    "was not sampled: no %s" % path)
    report = json.loads(path.read_text())
    assert report["samples"] > 100, report["samples"]
    # as root every program the deploy ran was read on its exec too
    assert report.get("mode") != "exec events" or report["execs_read"] > 1000, report["execs_read"]
    print("\nargv sampler over the deploy: %d passes over /proc, %d processes read on exec, "
          "%d argv read, %d hits" % (report["samples"], report.get("execs_read", 0),
                                     report["processes_read"], len(report["hits"])))
    assert not report["hits"], "secrets on command lines during the deploy:\n" + _hits_text(
        report["hits"])


@pytest.mark.rehearsal("region-in-place")
def test_check_diff_of_the_deploy_prints_no_secret_and_changes_nothing(lab_region):
    secrets = load_lab_secrets()
    t0 = time.monotonic()
    with ArgvSampler(secrets, lab=REGION_LAB) as sampler:
        proc = subprocess.run(
            [str(VENV / "bin" / "ansible-playbook"), "-i", str(lab_region),
             "lab/playbooks/deploy.yml", "--check", "--diff"],
            cwd=str(REPO), env=ansible_env(), capture_output=True, text=True,
            timeout=3600, check=False)
    sampler.write(argv_report_path(REGION_LAB, "deploy-check"))
    out = proc.stdout + proc.stderr
    (REPO / "build" / "lab" / REGION_LAB / "deploy-check-diff.log").write_text(out)
    print("\nlab_deploy.yml --check --diff: rc %d in %.0f s; %d argv samples, %d hits" % (
        proc.returncode, time.monotonic() - t0, sampler.samples, len(sampler.hits)))
    assert proc.returncode == 0, out[-4000:]
    printed = sorted(key for key, value in secrets.items() if value in out)
    assert not printed, "--check --diff printed the secrets %s" % printed
    assert not sampler.hits, _hits_text(sampler.report()["hits"])
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M)
    assert recap, proc.stdout[-2000:]
    changed = {host: int(n) for host, n in recap if int(n)}
    assert not changed, "the deployed region would change: %s\n%s" % (
        changed, "\n".join(re.findall(r"^changed: .*$", proc.stdout, re.M))[:3000])
