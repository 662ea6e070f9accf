"""Benchmark of the backup and db_restore roles against the bare tools.

A private MariaDB (socket only, binary log on) gets service-like databases of about
--rows rows each; then, in the same run:

* baseline: ``mariadb-dump ... | gzip`` and ``gzip -dc | mariadb`` by hand, no checks;
* the backup role (dump, sha256, table checksums, manifest), without and with the
  verify load into <db>_upgrade copies;
* the db_restore role (sha256 check, drop + load, every table's checksum compared).

Prints the figures and the ratios role / bare tools; it is not a test and asserts nothing.

    python -m bench.bench_backup_restore --rows 300000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.backup.conftest import PrivateMariaDB  # noqa: E402
from tests.lib.ansible_runner import VENV, run_playbook  # noqa: E402

DBS = ["keystone", "nova", "neutron"]


def fill(db, rows):
    for name in DBS:
        db.sql("CREATE DATABASE %s" % name)
        db.sql(["CREATE TABLE t1 (id INT PRIMARY KEY, uuid CHAR(36), name VARCHAR(255), "
                "extra TEXT, created_at DATETIME, KEY (uuid)) ENGINE=InnoDB",
                "INSERT INTO t1 SELECT seq, UUID(), CONCAT('name-', seq), REPEAT(MD5(seq), 4), "
                "NOW() FROM seq_1_to_%d" % rows,
                "CREATE TABLE t2 (id INT AUTO_INCREMENT PRIMARY KEY, t1_id INT, v BLOB, "
                "FOREIGN KEY (t1_id) REFERENCES t1 (id)) ENGINE=InnoDB",
                "INSERT INTO t2 (t1_id, v) SELECT seq, UNHEX(SHA2(seq, 256)) FROM seq_1_to_%d"
                % (rows // 2)], database=name)


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300000)
    args = ap.parse_args()
    os.environ.setdefault("STACKHOP_VENV", str(VENV))
    db = PrivateMariaDB(tcp=False).start()
    tmp = Path(tempfile.mkdtemp(prefix="bk-bench-"))
    try:
        fill(db, args.rows)
        size = db.sql("SELECT SUM(data_length + index_length) FROM information_schema.tables "
                      "WHERE table_schema IN ('keystone', 'nova', 'neutron')")[0][0]
        conn = ["--no-defaults", "--protocol=socket", "--socket=" + db.socket, "--user=root"]

        def bare_dump():
            for name in DBS:
                subprocess.run("set -o pipefail; mariadb-dump %s --single-transaction --quick "
                               "--master-data=2 --routines --triggers --events --add-drop-database "
                               "--databases %s | gzip -6 > %s/%s.sql.gz"
                               % (" ".join(conn), name, tmp, name),
                               shell=True, executable="/bin/bash", check=True)

        def bare_load():
            for name in DBS:
                subprocess.run("set -o pipefail; gzip -dc %s/%s.sql.gz | mariadb %s"
                               % (tmp, name, " ".join(conn)),
                               shell=True, executable="/bin/bash", check=True)

        inv = tmp / "hosts.yml"
        inv.write_text(json.dumps({"all": {"hosts": {"localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": str(VENV / "bin" / "python")}}}}))
        common = {"stackhop_backup_hosts": "localhost", "backup_dir": str(tmp / "sets"),
                  "backup_db_socket": db.socket, "backup_db_user": "root",
                  "backup_databases": DBS, "backup_config_paths": [], "backup_state_paths": []}
        env = {"STACKHOP_REPORT_DIR": str(tmp / "reports")}

        def role(playbook, extra):
            proc = run_playbook(REPO / "playbooks" / playbook, extra_vars=extra,
                                inventory=str(inv), extra_env=env)
            if proc.returncode:
                raise SystemExit(proc.stdout[-3000:])

        t_dump = timed(bare_dump)
        t_load = timed(bare_load)
        t_backup = timed(lambda: role("backup.yml", dict(common, backup_id="plain",
                                                         backup_verify_load=False)))
        t_backup_v = timed(lambda: role("backup.yml", dict(common, backup_id="verified")))
        t_restore = timed(lambda: role("restore_databases.yml", {
            "stackhop_backup_hosts": "localhost", "db_restore_set_dir": str(tmp / "sets" / "plain"),
            "db_restore_db_socket": db.socket, "db_restore_db_user": "root"}))
        # the role's own overhead: an empty-ish run (one tiny database)
        db.sql(["CREATE DATABASE tiny", "CREATE TABLE tiny.t (id INT PRIMARY KEY)"])
        t_tiny = timed(lambda: role("backup.yml", dict(common, backup_id="tiny",
                                                       backup_databases=["tiny"],
                                                       backup_verify_load=False)))
        dumps = sum(p.stat().st_size for p in (tmp / "sets" / "plain").glob("*.sql.gz"))
        report = json.loads(sorted((tmp / "sets" / "plain").glob("restore-*.json"))[-1].read_text())
        print("data: %d databases, %.0f MiB (data+index), %.1f MiB of gzip dumps"
              % (len(DBS), size / 1048576, dumps / 1048576))
        print("bare mariadb-dump | gzip      %6.1f s" % t_dump)
        print("bare gzip -dc | mariadb        %6.1f s" % t_load)
        print("backup role, no verify load    %6.1f s  (%.2f x bare dump)" % (t_backup, t_backup / t_dump))
        print("backup role, verify load       %6.1f s  (%.2f x bare dump + load)"
              % (t_backup_v, t_backup_v / (t_dump + t_load)))
        print("db_restore role                %6.1f s  (%.2f x bare load); loads: %s"
              % (t_restore, t_restore / t_load, ", ".join(
                  "%s %.1f s" % (k, v["load_seconds"]) for k, v in report["databases"].items())))
        print("backup role on one empty table %6.1f s  (fixed Ansible overhead)" % t_tiny)
    finally:
        db.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    main()
