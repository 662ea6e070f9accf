# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_report
type: aggregate
short_description: Records the upgrade's phases per host and component and writes a timeline report
version_added: 0.1.0
author:
  - stackhop contributors (@stackhop)
description:
  - Records every phase of an upgrade per host and component (start, end, tasks, changed, failed).
    A task belongs to a phase when its own vars, or those of its block, role include or play,
    set C(stackhop_phase) (and C(stackhop_component)), or when one of its tags is a phase name
    from O(phases). Without C(stackhop_component) the role name is the component.
  - Sums the C(stackhop_figures) a stackhop module returns (for example the rows
    M(stackhop.upgrade.nova_archive_deleted_rows) archived) into the C(figures) of the
    task's phase.
  - Keeps each edit M(stackhop.upgrade.config_migrate) makes to a config file (host, file, section,
    option, what and why; never a value) in the C(config_edits) of C(report.json) and a table of
    the report, marked planned in check mode.
  - Takes in the probes' measurements from C(<report_dir>/probes/*.json) and from
    C(ansible.builtin.set_stats) data named C(stackhop_probes) - API downtime windows per service,
    data-plane packet loss and the longest gap.
  - Writes C(<report_dir>/runs/<run_id>.json) while the run goes on, and at the end (also when the
    run fails or is interrupted) C(report.json) and a self-contained C(report.html) with a timeline
    chart, merged over every run in the report directory, so an interrupted run and its re-run
    make one report. Prints a short Markdown summary and the report's path.
  - Prints per availability zone (host var C(stackhop_az)) how many hosts are done, and an
    estimate of the time left from a rehearsal's C(report.json) (O(rehearsal_report)).
  - Exports C(STACKHOP_REPORT_DIR), C(STACKHOP_RUN_ID) and C(STACKHOP_UPGRADE_ID) into the
    controller's environment, so tasks and probes can use
    C(lookup('ansible.builtin.env', 'STACKHOP_REPORT_DIR')).
  - The extra vars C(stackhop_report_dir), C(stackhop_upgrade_id) and C(stackhop_rehearsal_report)
    (C(-e)) override the options of the same meaning.
  - See docs/report.md for the phase convention and the probe file format.
requirements:
  - Enable it in ansible.cfg (C(callbacks_enabled = stackhop.upgrade.upgrade_report)) or with
    E(ANSIBLE_CALLBACKS_ENABLED).
options:
  report_dir:
    description:
      - Directory of the report. Runs that share it are merged into one report.
      - Defaults to C(build/reports/<upgrade_id>) when an upgrade id is set,
        else C(build/reports/<UTC timestamp>), relative to the current directory; under
        ansible-runner (AWX, Automation Platform) to C(<artifact dir>/stackhop-output), the job's
        artifact directory that ansible-runner exports as C(AWX_ISOLATED_DATA_DIR).
    type: path
    env:
      - name: STACKHOP_REPORT_DIR
    ini:
      - section: stackhop_report
        key: dir
  upgrade_id:
    description:
      - Identifier of the upgrade; the same id on a re-run resumes the same report
        (and the same step markers, see the step_marker role).
    type: str
    env:
      - name: STACKHOP_UPGRADE_ID
    ini:
      - section: stackhop_report
        key: upgrade_id
  phases:
    description:
      - Tag names that mark a task's phase when it sets no C(stackhop_phase) variable.
    type: list
    elements: str
    default: [preflight, backup, drain, stop, upgrade, db_sync, migrate, start, verify, approval, done]
    env:
      - name: STACKHOP_REPORT_PHASES
    ini:
      - section: stackhop_report
        key: phases
  done_phase:
    description:
      - A host counts as done for the progress when a phase of this name ends on it without failure.
    type: str
    default: done
    env:
      - name: STACKHOP_REPORT_DONE_PHASE
    ini:
      - section: stackhop_report
        key: done_phase
  rehearsal_report:
    description:
      - Path of a rehearsal's C(report.json); its timings give the estimate of the time left.
    type: path
    env:
      - name: STACKHOP_REHEARSAL_REPORT
    ini:
      - section: stackhop_report
        key: rehearsal_report
  summary:
    description:
      - Print the Markdown summary at the end of the run.
    type: bool
    default: true
    env:
      - name: STACKHOP_REPORT_SUMMARY
    ini:
      - section: stackhop_report
        key: summary
"""

import atexit
import datetime
import json
import os
import time

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

from ansible_collections.stackhop.upgrade.plugins.plugin_utils import output_dir
from ansible_collections.stackhop.upgrade.plugins.plugin_utils import upgrade_report as model

WRITE_EVERY_S = 2.0
INCLUDES = ("include_tasks", "import_tasks", "include_role", "import_role")


def _now():
    return time.time()


class CallbackModule(CallbackBase):
    """Records phases per host and component; writes report.json and report.html."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stackhop.upgrade.upgrade_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._pid = os.getpid()
        self._started = _now()
        self._run_id = "%s-%d" % (datetime.datetime.now(datetime.timezone.utc)
                                  .strftime("%Y%m%dT%H%M%SZ"), self._pid)
        self._report_dir = None
        self._upgrade_id = None
        self._rehearsal = None
        self._playbooks = []
        self._phases = []          # closed and open spans, in order of start
        self._open = {}            # host -> open span
        self._task_start = {}      # (host, task uuid) -> (epoch, task)
        self._hosts = {}           # host -> {"az": ..}
        self._az_hosts = {}        # az -> [hosts] of the plays so far
        self._az_region = {}       # az -> the region its hosts are in, for progress lines
        self._done = set()         # hosts done (this run and earlier runs)
        self._probes = []          # set_stats probe records
        self._config_edits = []    # config_migrate's edits: [{host, path, option, ..., planned}]
        self._last_write = 0.0
        self._finished = False
        self._classes = {}
        atexit.register(self._at_exit)

    # -- options ------------------------------------------------------------

    def _setup(self, play):
        """Resolve the report dir, upgrade id and rehearsal (first play only)."""
        if self._report_dir is not None:
            return
        extra = {}
        try:
            extra = play.get_variable_manager().extra_vars or {}
        except Exception:  # pylint: disable=broad-except
            extra = {}
        self._upgrade_id = str(extra.get("stackhop_upgrade_id") or self.get_option("upgrade_id") or "") or None
        report_dir = extra.get("stackhop_report_dir") or self.get_option("report_dir")
        if not report_dir:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            report_dir = output_dir.default_report_dir(os.environ, self._upgrade_id, stamp)
        self._report_dir = os.path.abspath(os.path.expanduser(str(report_dir)))
        os.makedirs(os.path.join(self._report_dir, "runs"), exist_ok=True)
        os.makedirs(os.path.join(self._report_dir, "probes"), exist_ok=True)
        os.environ["STACKHOP_REPORT_DIR"] = self._report_dir
        os.environ["STACKHOP_RUN_ID"] = self._run_id
        if self._upgrade_id:
            os.environ["STACKHOP_UPGRADE_ID"] = self._upgrade_id
        rehearsal = extra.get("stackhop_rehearsal_report") or self.get_option("rehearsal_report")
        if rehearsal:
            try:
                with open(os.path.expanduser(str(rehearsal))) as handle:
                    self._rehearsal = json.load(handle)
            except (OSError, ValueError) as exc:
                self._display.warning("stackhop report: cannot read the rehearsal report %s (%s); "
                                      "progress has no time estimate" % (rehearsal, exc))
        for run in model.load_runs(self._report_dir):
            if run.get("run_id") != self._run_id:
                self._done.update(run.get("done_hosts") or [])
        self._show("[stackhop report] run %s records to %s" % (self._run_id, self._report_dir), verbosity=1)

    # -- classification ------------------------------------------------------

    def _classify(self, task):
        """(phase, component) of a task, or None when it belongs to no phase."""
        key = getattr(task, "_uuid", id(task))
        if key in self._classes:
            return self._classes[key]
        if str(getattr(task, "action", "")).rsplit(".", 1)[-1] in INCLUDES:
            # the include itself is no work; the tasks it brings in are recorded
            self._classes[key] = None
            return None
        try:
            task_vars = task.get_vars()
        except Exception:  # pylint: disable=broad-except
            task_vars = {}
        role = getattr(task, "_role", None)
        role_vars = {}
        if role is not None:
            try:
                role_vars = dict(role.get_role_params())
            except Exception:  # pylint: disable=broad-except
                role_vars = {}
        phase = task_vars.get("stackhop_phase") or role_vars.get("stackhop_phase")
        component = task_vars.get("stackhop_component") or role_vars.get("stackhop_component")
        if not phase:
            phase = self._play_vars.get("stackhop_phase")
        if not component:
            component = self._play_vars.get("stackhop_component")
        if not phase:
            names = self.get_option("phases") or []
            for tag in task.tags or []:
                if str(tag) in names:
                    phase = str(tag)
                    break
        if not component and role is not None:
            component = role.get_name(include_role_fqcn=False)
        result = None
        if phase:
            for value in (phase, component):
                if isinstance(value, str) and "{{" in value:
                    self._display.warning("stackhop report: task %r sets a templated phase or "
                                          "component (%s); use a literal name" % (task.get_name(), value))
            result = (str(phase), str(component or "-"))
        self._classes[key] = result
        return result

    # -- recording -----------------------------------------------------------

    def _record(self, host, task, status, res=None):
        classes = self._classify(task)
        now = _now()
        start = self._task_start.pop((host, getattr(task, "_uuid", None)), (now, task))[0]
        if classes is None:
            return
        phase, component = classes
        # a module or action may name its component at run time (approval_gate: the gate)
        if isinstance(res, dict) and isinstance(res.get("stackhop_component"), str):
            component = res["stackhop_component"]
        span = self._open.get(host)
        if span is None or (span["phase"], span["component"]) != (phase, component):
            if status == "skipped":
                # a skipped task (e.g. a step done in an earlier run) opens no phase
                return
            if span is not None:
                self._close(host)
            span = {"host": host, "az": self._hosts.get(host, {}).get("az"), "phase": phase,
                    "component": component, "start": start, "end": now, "tasks": 0,
                    "changed": 0, "failed": False, "skipped": 0, "ignored": 0,
                    "interrupted": False}
            self._open[host] = span
            self._phases.append(span)
        span["end"] = max(span["end"], now)
        span["start"] = min(span["start"], start)
        span["tasks"] += 1
        # figures a stackhop module returns (nova_archive_deleted_rows: rows archived),
        # summed per phase span and kept in the run record and report.json's phases
        figures = res.get("stackhop_figures") if isinstance(res, dict) else None
        if isinstance(figures, dict):
            into = span.setdefault("figures", {})
            for name, value in figures.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    into[str(name)] = round(into.get(str(name), 0) + value, 3)
        # what the upgrade changed in each config file, and why (planned: in check mode)
        for edit in model.config_edits(res) if status in ("ok", "changed") else []:
            self._config_edits.append(dict(edit, host=host, phase=phase, component=component,
                                           planned=bool(getattr(task, "check_mode", False))))
        if status == "changed":
            span["changed"] += 1
        elif status == "failed":
            span["failed"] = True
        elif status == "skipped":
            span["skipped"] += 1
        elif status == "ignored":
            span["ignored"] += 1
        elif status == "interrupted":
            span["interrupted"] = True
        if phase == self.get_option("done_phase") and status in ("ok", "changed") \
                and host not in self._done:
            self._done.add(host)
            self._print_progress(host)
        self._maybe_write()

    def _close(self, host):
        self._open.pop(host, None)

    def _print_progress(self, host):
        az = self._hosts.get(host, {}).get("az") or "-"
        state = model.progress({az: self._az_hosts.get(az, [host])}, self._done, self._rehearsal)
        self._show("[stackhop progress] %s" % model.progress_line(self._az_label(az), state[az]))

    def _az_label(self, az):
        region = self._az_region.get(az)
        return "%s %s" % (region, az) if region else az

    # -- run file -----------------------------------------------------------

    def _run_record(self, status):
        phases = []
        for span in self._phases:
            row = dict(span)
            row["start"], row["end"] = model.iso(span["start"]), model.iso(span["end"])
            phases.append(row)
        return {
            "format": model.FORMAT, "run_id": self._run_id, "upgrade_id": self._upgrade_id,
            "playbooks": self._playbooks, "start": model.iso(self._started),
            "end": model.iso(_now()), "status": status, "phases": phases,
            "hosts": self._hosts, "done_hosts": sorted(self._done), "probes": self._probes,
            "az_hosts": self._az_hosts, "config_edits": self._config_edits,
        }

    def _write_run(self, status):
        if self._report_dir is None:
            return
        model.write_json_atomic(os.path.join(self._report_dir, "runs", self._run_id + ".json"),
                                self._run_record(status))
        self._last_write = _now()

    def _maybe_write(self):
        if _now() - self._last_write >= WRITE_EVERY_S:
            self._write_run("running")

    def _show(self, text, verbosity=0):
        """Print on stdout, or on stderr when the stdout callback writes JSON (keep it parseable)."""
        to_stderr = "json" in str(getattr(C, "DEFAULT_STDOUT_CALLBACK", "") or "")
        if verbosity and self._display.verbosity < verbosity:
            return
        self._display.display(text, stderr=to_stderr)

    def _nothing_recorded(self):
        """True when this run recorded nothing and the report dir holds nothing else."""
        if self._phases or self._probes:
            return False
        others = [r for r in model.load_runs(self._report_dir) if r.get("run_id") != self._run_id]
        probes = os.listdir(os.path.join(self._report_dir, "probes"))
        return not others and not probes

    def _finish(self, status, stats=None):
        if self._finished or self._report_dir is None:
            return
        self._finished = True
        if status == "interrupted":
            # tasks that were running when the run stopped: their phase ends now, marked
            for (host, dummy), (dummy2, task) in sorted(self._task_start.items(), key=lambda kv: kv[1][0]):
                self._record(host, task, "interrupted")
        for host in list(self._open):
            self._close(host)
        if self._nothing_recorded():
            # a run without phases (an ad-hoc task, a test of one module) leaves no report
            for sub in ("runs", "probes", ""):
                try:
                    os.rmdir(os.path.join(self._report_dir, sub))
                except OSError:
                    pass
            return
        self._write_run(status)
        report, html_path = model.build_report(self._report_dir, current_run_id=self._run_id)
        az_state = model.progress(self._az_hosts, self._done, self._rehearsal) if self._az_hosts else None
        if az_state:
            report["progress"] = az_state
            model.write_json_atomic(os.path.join(self._report_dir, "report.json"), report)
        if self.get_option("summary"):
            text = model.markdown_summary(report, html_path)
            if az_state:
                lines = ["Progress:"] + ["- " + model.progress_line(self._az_label(az), entry)
                                         for az, entry in az_state.items() if az != "_all"]
                text = text.replace("\nReport: ", "\n" + "\n".join(lines) + "\n\nReport: ")
            self._show(text)
        self._show("[stackhop report] %s" % html_path)

    def _at_exit(self):
        if os.getpid() != self._pid or self._finished:
            return
        try:
            self._finish("interrupted")
        except Exception:  # pylint: disable=broad-except
            pass

    # -- callbacks ----------------------------------------------------------

    _play_vars = {}

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        if name:
            self._playbooks.append(os.path.basename(name))

    def v2_playbook_on_play_start(self, play):
        self._setup(play)
        try:
            self._play_vars = dict(play.vars or {})
        except Exception:  # pylint: disable=broad-except
            self._play_vars = {}
        manager = play.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        if inventory is None:
            return
        try:
            hosts = inventory.get_hosts(play.hosts)
        except Exception:  # pylint: disable=broad-except
            return
        for host in hosts:
            name = host.get_name()
            if name in self._hosts:
                continue
            try:
                host_vars = manager.get_vars(host=host, include_hostvars=False)
                az, region = host_vars.get("stackhop_az"), host_vars.get("stackhop_region")
            except Exception:  # pylint: disable=broad-except
                az = region = None
            az = str(az) if az else None
            self._hosts[name] = {"az": az}
            members = self._az_hosts.setdefault(az or "-", [])
            if name not in members:
                members.append(name)
            if region and az:
                # the same AZ name in two regions must not read as one (issue 20, item 4)
                self._az_region.setdefault(az, str(region))

    def v2_runner_on_start(self, host, task):
        self._task_start[(host.get_name(), getattr(task, "_uuid", None))] = (_now(), task)

    @staticmethod
    def _parts(result):
        host = getattr(result, "host", None) or result._host
        task = getattr(result, "task", None) or result._task
        res = getattr(result, "result", None)
        if res is None:
            res = result._result
        return host.get_name(), task, res

    def v2_runner_on_ok(self, result):
        host, task, res = self._parts(result)
        self._record(host, task, "changed" if res.get("changed") else "ok", res)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        host, task, res = self._parts(result)
        self._record(host, task, "ignored" if ignore_errors else "failed", res)

    def v2_runner_on_skipped(self, result):
        host, task, dummy = self._parts(result)
        self._record(host, task, "skipped")

    def v2_runner_on_unreachable(self, result):
        host, task, dummy = self._parts(result)
        self._record(host, task, "failed")

    def v2_playbook_on_stats(self, stats):
        custom = getattr(stats, "custom", {}) or {}
        for scope in custom.values():
            records = (scope or {}).get("stackhop_probes")
            if isinstance(records, dict):
                records = [records]
            for raw in records or []:
                self._probes.append(raw)
        failed = False
        for host in stats.processed:
            summary = stats.summarize(host)
            entry = self._hosts.setdefault(host, {"az": None})
            entry.update({k: summary.get(k, 0) for k in ("ok", "changed", "failures",
                                                         "unreachable", "skipped", "rescued")})
            if summary.get("failures") or summary.get("unreachable"):
                failed = True
        self._finish("failed" if failed else "ok", stats)
