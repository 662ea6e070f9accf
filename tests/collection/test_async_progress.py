"""stackhop.upgrade.async_progress through real ansible-playbook runs on localhost: a real
async job (a shell loop writing a progress file), its lines printed on stderr as they
change, the job's own result returned; bad input and a job that does not exist fail with
one sentence."""

from __future__ import annotations

import json

from tests.lib.ansible_runner import VENV, run_module, run_playbook


def test_follows_a_real_async_job_and_returns_its_result(tmp_path):
    progress = tmp_path / "progress.json"
    script = ("for n in 1 2 3; do printf '{\"line\": \"step %%s of 3\"}' $n > %s.tmp && "
              "mv %s.tmp %s; sleep 1.5; done; echo finished" % (progress, progress, progress))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [
            {"name": "start", "ansible.builtin.shell": script, "async": 60, "poll": 0,
             "register": "job"},
            {"name": "follow", "stackhop.upgrade.async_progress": {
                "jid": "{{ job.ansible_job_id }}", "progress_file": str(progress), "poll": 1,
                "label": "the steps"}, "register": "followed"},
            {"name": "show", "ansible.builtin.debug": {"var": "followed"}}]}]))
    proc = run_playbook(play, inventory="localhost,",
                        extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
                                   "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout)             # the lines went to stderr: stdout is JSON
    followed = out["plays"][0]["tasks"][2]["hosts"]["localhost"]["followed"]
    assert followed["stdout"] == "finished" and followed["rc"] == 0   # the job's own result
    assert followed["progress_lines"][-1] == "step 3 of 3", followed["progress_lines"]
    assert "localhost | step 3 of 3" in proc.stderr
    assert not followed.get("failed")


def test_bad_input_and_an_unknown_job_are_one_sentence():
    bad = run_module("async_progress", {"jid": "1.2", "poll": 0})
    assert bad.failed and bad["msg"] == ("async_progress for the job has poll 0 and timeout "
                                         "86400; set both to 1 second or more")
    unknown = run_module("async_progress", {"jid": "999999.424242", "label": "the migrations"})
    assert unknown.failed
    assert unknown["msg"].startswith("async_progress cannot read the job 999999.424242 of the "
                                     "migrations on localhost ("), unknown["msg"]
    assert unknown["msg"].endswith("); start it again")
