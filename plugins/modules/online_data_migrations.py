#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: online_data_migrations
short_description: Run the online data migrations of nova, cinder, placement or ironic batch by batch, with progress
version_added: 0.1.0
description:
  - Runs C(<service>-manage db online_data_migrations) (ironic C(ironic-dbsync
    online_data_migrations)) with a batch size, one batch per call, until a batch finds
    nothing left (exit code 0), and returns the rows migrated per migration, the number
    of batches and the time they took.
  - After every batch it writes its progress (batches, rows migrated so far, the last
    batch's counts, rows left when the service reports them, and one line for humans)
    to O(progress_file) when that is set, so that a play that starts the module with
    C(async) can print a line per batch while it runs, and no SSH session is held for
    hours.
  - The services print their counts only for humans (no JSON option), nova, cinder and
    placement as a table, ironic as a line per migration; the module reads them and
    interprets the exit codes of their C(manage.py) (0 done, 1 the batch migrated rows,
    2 a migration failed and none could progress, 127 a bad batch size).
  - Database URLs stay in the configuration files; no password is ever on a command line
    or in the result.
author:
  - stackhop contributors (@stackhop)
extends_documentation_fragment:
  - stackhop.upgrade.attributes
options:
  service:
    description: The service whose migrations run; it decides the command and its options.
    type: str
    choices: [nova, cinder, placement, ironic]
    required: true
  manage:
    description:
      - The C(<service>-manage) command (ironic C(ironic-dbsync)), a name looked up on C(PATH)
        or an absolute path (for example inside a virtualenv). Default C(<service>-manage),
        for ironic C(ironic-dbsync).
    type: str
  config_files:
    description:
      - The configuration files the command reads, in order (each passed as
        C(--config-file)). Default C(/etc/<service>/<service>.conf).
    type: list
    elements: path
  max_count:
    description: Rows per batch (C(--max-count); cinder C(--max_count)).
    type: int
    default: 50000
  max_batches:
    description:
      - Batches to run in this call; V(0) runs until a batch finds nothing left.
      - The module fails when that many batches ran and rows are still left, so a
        migration that never ends cannot hold the upgrade forever.
    type: int
    default: 0
  user:
    description:
      - Run the command as this user (C(runuser -u <user> --)), the service's own, so the
        log file it writes stays the service's. Unset, it runs as the connecting user.
    type: str
  progress_file:
    description:
      - A JSON file the module rewrites after every batch (mode 0600, created with its
        directory); the same keys as the result.
    type: path
  label:
    description: Words naming where the migrations run, for the progress line (region, release).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    details: >-
      Nothing runs and the result is skipped: which rows a migration changes only the
      service's own code knows, and running it is the change.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Run nova's online data migrations to the end
  stackhop.upgrade.online_data_migrations:
    service: nova
    manage: /opt/stackhop/venvs/2025.1/bin/nova-manage
    config_files: [/etc/nova/nova.conf]
    max_count: 50000

- name: Start them in the background, progress in a file (see roles/nova_controller)
  stackhop.upgrade.online_data_migrations:
    service: nova
    progress_file: /var/lib/stackhop/progress/nova-odm.json
    label: RegionOne, 2025.1
  async: 86400
  poll: 0
  register: odm_job
"""

RETURN = r"""
done:
  description: Whether the last batch found nothing left (exit code 0).
  returned: success
  type: bool
batches:
  description: Batches run.
  returned: success
  type: int
  sample: 4
migrated:
  description: Rows migrated per migration (migrations that migrated none left out).
  returned: success
  type: dict
  sample: {populate_queued_for_delete: 120000, populate_user_id: 120000}
migrated_total:
  description: Sum of RV(migrated).
  returned: success
  type: int
  sample: 240000
remaining:
  description: Rows left after the last batch when the service reports them (older cinder), else null.
  returned: success
  type: int
last_batch:
  description: What the last batch found and migrated, and its exit code.
  returned: success
  type: dict
  sample: {found: 0, migrated: 0, rc: 0}
line:
  description: The progress line of the last batch.
  returned: success
  type: str
seconds:
  description: Wall time of the batches, in seconds.
  returned: success
  type: float
stackhop_figures:
  description: The figures the upgrade report records for the phase.
  returned: success
  type: dict
  sample: {nova_online_migrated_rows: 240000, nova_online_batches: 6, nova_online_seconds: 95.2}
executed_commands:
  description: The command lines run (they never hold a secret).
  returned: always
  type: list
  elements: str
"""

import os
import pwd
import time

try:
    import configparser
except ImportError:  # pragma: no cover
    import ConfigParser as configparser

from ansible_collections.stackhop.upgrade.plugins.module_utils.stackhop_module import (
    StackhopError,
    StackhopModule,
)
from ansible_collections.stackhop.upgrade.plugins.module_utils import online_migrations as om
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import Masker

MAX_BATCHES = 1000000


class OnlineDataMigrations(StackhopModule):
    argument_spec = dict(
        service=dict(type="str", required=True, choices=sorted(om.SERVICES)),
        manage=dict(type="str"),
        config_files=dict(type="list", elements="path"),
        max_count=dict(type="int", default=50000),
        max_batches=dict(type="int", default=0),
        progress_file=dict(type="path"),
        label=dict(type="str", default=""),
        user=dict(type="str"),
    )

    def _validate(self):
        p = self.params
        service = p["service"]
        if p["max_count"] < 1:
            raise StackhopError("max_count is %d; set it to a positive number of rows per batch"
                                % p["max_count"])
        if p["max_batches"] < 0:
            raise StackhopError("max_batches is %d; set it to 0 (until done) or a positive "
                                "number" % p["max_batches"])
        self.config_files = p["config_files"] or ["/etc/%s/%s.conf" % (service, service)]
        for path in self.config_files:
            if not os.path.isfile(path):
                raise StackhopError("the %s configuration file %s does not exist on %s; set "
                                    "config_files to the files %s reads"
                                    % (service, path, self._host(), om.SERVICES[service]["manage"]))
        manage = om.SERVICES[service]["manage"]
        self.manage = self.command_path(
            p["manage"] or manage, manage, "set manage to the %s of the installed %s" % (manage, service))
        self.runuser = []
        if p["user"]:
            try:
                pwd.getpwnam(p["user"])
            except KeyError:
                raise StackhopError("the user %s does not exist on %s; set user to the %s service's user"
                                    % (p["user"], self._host(), service))
            self.runuser = [self.command_path("runuser", "runuser", "install util-linux"),
                            "-u", p["user"], "--"]
        self.masker = Masker()
        for path in self.config_files:
            self._mask_urls(path)

    def _mask_urls(self, path):
        """Mask every URL password of a config file (a log line the result quotes may hold one)."""
        parser = configparser.RawConfigParser(strict=False)
        try:
            with open(path) as handle:
                parser.read_file(handle)
        except (OSError, IOError, configparser.Error):
            return  # the service reports an unreadable file itself
        for section in parser.sections():
            for dummy, value in parser.items(section):
                if value and "://" in value:
                    self.masker.add_url(value.replace("$$", "$"))

    def _write_progress(self, progress):
        self.write_progress(self.params["progress_file"], progress)

    def _batch(self):
        p = self.params
        argv = self.runuser + om.batch_argv(p["service"], self.manage, self.config_files, p["max_count"])
        started = time.monotonic()
        rc, out, err = self.run_command(argv, check_rc=False)
        seconds = time.monotonic() - started
        rows = om.parse(p["service"], out)
        if rc == 1 and not any(r[1] for r in rows.values()):
            raise StackhopError(self.masker.mask(
                "%s online_data_migrations exited 1 (it migrated rows, or a migration raised) but "
                "its counts could not be read%s; run it by hand and read its output"
                % (om.SERVICES[p["service"]]["manage"],
                   (" (last error: %s)" % om.last_error(out + "\n" + err)) if om.last_error(out + "\n" + err)
                   else "")), rc=rc)
        return rows, rc, seconds, out + "\n" + err

    def _failure(self, progress, rows, rc, output):
        service = self.params["service"]
        names = om.stuck(rows)
        what = ", ".join("%s found %d rows and migrated none" % (n, rows[n][0]) for n in names)
        error = om.last_error(output)
        return StackhopError(self.masker.mask(
            "%s online data migrations failed in batch %d with exit code %d (%s)%s%s; fix the "
            "rows %s's log names (or what it says is missing) and run the upgrade again" % (
                service, progress["batches"], rc, om.EXIT.get(rc, "unexpected"),
                (": " + what) if what else "", (" (last error: %s)" % error) if error else "",
                service)), progress=progress)

    def run(self):
        p = self.params
        self._validate()
        if self.check_mode:
            return {"skipped": True, "msg": "check mode runs no online data migration: only "
                                            "%s's own code knows which rows it would change"
                    % p["service"]}
        progress = om.new_progress(p["service"], p["label"])
        limit = p["max_batches"] or MAX_BATCHES
        while progress["batches"] < limit:
            rows, rc, seconds, output = self._batch()
            om.add_batch(progress, rows, rc, seconds)
            self._write_progress(progress)
            if progress["failed"]:
                raise self._failure(progress, rows, rc, output)
            if progress["done"]:
                break
        else:
            raise StackhopError(
                "%s online data migrations still migrated rows after %d batches of %d; raise "
                "max_count or max_batches and run the upgrade again"
                % (p["service"], progress["batches"], p["max_count"]), progress=progress)
        result = dict(progress)
        result["changed"] = progress["migrated_total"] > 0
        prefix = p["service"]
        result["stackhop_figures"] = {
            "%s_online_migrated_rows" % prefix: progress["migrated_total"],
            "%s_online_batches" % prefix: progress["batches"],
            "%s_online_seconds" % prefix: progress["seconds"]}
        return result


def main():
    OnlineDataMigrations()()


if __name__ == "__main__":
    main()
