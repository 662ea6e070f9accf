"""Benchmark: nova-manage db online_data_migrations with and without the archive first.

A private MariaDB gets nova 2024.1's nova_api and nova schemas (nova-manage's own syncs),
twice, each with the same data set: --deleted soft-deleted instances (deleted = id, as nova
marks them) and --live live ones, each with instance_extra, an info cache, one system
metadata row and an instance mapping (tests/nova/test_nova_archive_deleted_rows.populate).
Copy A: online_data_migrations alone. Copy B: stackhop.upgrade.nova_archive_deleted_rows
(one ansible-playbook task, nova-manage db archive_deleted_rows --until-complete), then
online_data_migrations. Prints the figures; it is not a test and asserts nothing.

    python -m bench.bench_nova_archive --deleted 5000 --live 200 [--port 33472]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lib.ansible_runner import VENV, run_module  # noqa: E402
from tests.lib.openstack_venv import NOVA_2024_1, ensure_venv  # noqa: E402
from tests.lib.private_mariadb import PrivateMariadb  # noqa: E402
from tests.nova.conftest import DB_PASSWORD, NovaEnv  # noqa: E402
from tests.nova.test_nova_archive_deleted_rows import populate  # noqa: E402


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return time.monotonic() - t0, result


def copy(db, venv, work, prefix, dumps):
    env = NovaEnv(db, venv, work / prefix, prefix)
    db.create_user("nova", DB_PASSWORD, [env.api_db, env.cell_db, env.cell0_db])
    for kind, name in (("api", env.api_db), ("cell", env.cell_db)):
        with open(dumps[kind]) as dump:
            subprocess.run(["mariadb", "--socket=%s" % db.socket, "-uroot", name],
                           stdin=dump, check=True)
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deleted", type=int, default=5000)
    ap.add_argument("--live", type=int, default=200)
    ap.add_argument("--max-rows", type=int, default=1000)
    ap.add_argument("--port", type=int,
                    default=int(os.environ.get("STACKHOP_BENCH_MARIADB_PORT", "33472")))
    args = ap.parse_args()
    os.environ.setdefault("STACKHOP_VENV", str(VENV))
    venv = ensure_venv(*NOVA_2024_1)
    work = Path(tempfile.mkdtemp(prefix="stackhop-bench-nova-archive-"))
    db = PrivateMariadb(work / "db", args.port)
    db.start()
    try:
        tmpl = NovaEnv(db, venv, work / "tmpl", "tmpl_")
        db.create_user("nova", DB_PASSWORD, [tmpl.api_db, tmpl.cell_db, tmpl.cell0_db])
        tmpl.manage("api_db", "sync")
        tmpl.manage("db", "sync")
        dumps = {}
        for kind, name in (("api", tmpl.api_db), ("cell", tmpl.cell_db)):
            dumps[kind] = work / ("%s.sql" % kind)
            with open(dumps[kind], "w") as out:
                subprocess.run(["mariadb-dump", "--socket=%s" % db.socket, "-uroot",
                                "--skip-comments", name], stdout=out, check=True)

        plain = copy(db, venv, work, "a_", dumps)
        populate(plain, deleted=args.deleted, live=args.live)
        odm_plain, dummy = timed(lambda: plain.manage("db", "online_data_migrations"))

        archived = copy(db, venv, work, "b_", dumps)
        populate(archived, deleted=args.deleted, live=args.live)
        archive_s, result = timed(lambda: run_module(
            "nova_archive_deleted_rows", {"nova_manage": archived.nova_manage,
                                          "config_files": [str(archived.conf)],
                                          "max_rows": args.max_rows}, timeout=3600))
        if result.failed:
            raise SystemExit("the archive failed: %s" % result.get("msg"))
        odm_after, dummy = timed(lambda: archived.manage("db", "online_data_migrations"))
    finally:
        db.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("nova 2024.1, %d soft-deleted + %d live instances, max_rows %d"
          % (args.deleted, args.live, args.max_rows))
    print("  online_data_migrations, no archive first   %7.1f s" % odm_plain)
    print("  archive (module task, %6d rows, %3d batches; nova-manage %.1f s) %7.1f s"
          % (result["archived_total"], result["batches"], result["seconds"], archive_s))
    print("  online_data_migrations after the archive    %7.1f s" % odm_after)
    print("  archive + online_data_migrations            %7.1f s" % (archive_s + odm_after))


if __name__ == "__main__":
    main()
