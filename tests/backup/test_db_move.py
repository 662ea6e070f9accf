"""The database moved with the control plane (issue 22 part 1, DeNA's blue-green) on two
real MariaDB servers on this machine: the old one seeded with keystone's and nova's
databases, their service accounts and nova's cell mappings, dumped by the backup role as
the control plane dumps a component (playbooks/backup.yml, one set per component); then
roles/control_plane/tasks/_db_load.yml, the control plane's own load phase, on two
inventory hosts (db-old, db-new: this machine, each with its server's socket).

Proven: every table of the new server equals the dump (the restore's checksums and an
independent read of both servers), the service users log in to the new server with their
old passwords and reach their databases only, another account is not copied, nova's
cell mappings name the new server there and the old one still on the old server, the old
server is unchanged (checksums and accounts), no password or hash on a command line or
in the output; a table changed afterwards is detected by db_restore's comparison (the
rollback's proof that the old server is as the move left it)."""

from __future__ import annotations

import json
import secrets

import pymysql
import pytest

from tests.lib.ansible_runner import REPO, VENV, run_playbook
from tests.lib.argv_sampler import ArgvSampler
from tests.lib.private_mariadb import PrivateMariadb, free_port

pytestmark = [pytest.mark.needs_root]

UPGRADE_ID = "dbmv-test"
KS_PW = 'ks "m0ve" %s' % secrets.token_hex(6)
NOVA_PW = "nova-m0ve-%s" % secrets.token_hex(6)
OTHER_PW = "other-%s" % secrets.token_hex(6)
OLD_HOST, NEW_HOST = "db-old.example", "db-new.example"  # as the cell mappings name them
DATABASES = {"keystone": ["keystone"], "nova": ["nova_api", "nova_cell0"]}
CELL1 = "mysql+pymysql://nova:%s@%s:3306/nova?charset=utf8" % (NOVA_PW, OLD_HOST)


def _seed(db):
    db.sql(["CREATE DATABASE keystone CHARACTER SET utf8mb4", "CREATE DATABASE nova_api", "CREATE DATABASE nova_cell0",
            "CREATE DATABASE other"])
    db.sql(["CREATE TABLE project (id VARCHAR(64) PRIMARY KEY, name VARCHAR(64), extra TEXT) ENGINE=InnoDB",
            "CREATE TABLE user (id VARCHAR(64) PRIMARY KEY, enabled TINYINT(1), created_at DATETIME) ENGINE=InnoDB",
            "CREATE VIEW enabled_users AS SELECT id FROM user WHERE enabled = 1",
            "INSERT INTO project SELECT CONCAT('p', seq), CONCAT('project-', seq), 'é ü 漢' FROM seq_1_to_300",
            "INSERT INTO user SELECT CONCAT('u', seq), seq % 3 <> 0, NOW() FROM seq_1_to_2000"], database="keystone")
    db.sql(["CREATE TABLE cell_mappings (id INT AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(36) UNIQUE, "
            "name VARCHAR(255), transport_url TEXT, database_connection TEXT) ENGINE=InnoDB",
            "CREATE TABLE flavors (id INT PRIMARY KEY, name VARCHAR(255)) ENGINE=InnoDB",
            "INSERT INTO flavors SELECT seq, CONCAT('m1.f', seq) FROM seq_1_to_40"], database="nova_api")
    conn = db.root("nova_api")
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO cell_mappings (uuid, name, transport_url, database_connection) "
                        "VALUES (%s, %s, 'none:///', %s)", [
                            ("00000000-0000-0000-0000-000000000000", "cell0",
                             CELL1.replace("/nova?", "/nova_cell0?")),
                            ("11111111-1111-1111-1111-111111111111", "cell1", CELL1),
                            # a template: nova fills it from its own config, so it follows it
                            ("22222222-2222-2222-2222-222222222222", "cell2",
                             "{scheme}://{username}:{password}@{hostname}/nova_cell2?{query}")])
    conn.close()
    db.sql(["CREATE TABLE instances (id INT PRIMARY KEY, host VARCHAR(255))",
            "INSERT INTO instances SELECT seq, 'cmp1' FROM seq_1_to_25"], database="nova_cell0")
    db.sql(["CREATE TABLE t (id INT PRIMARY KEY)"], database="other")
    conn = db.root()
    with conn.cursor() as cur:
        cur.execute("CREATE USER 'keystone'@'127.0.0.1' IDENTIFIED BY %s", (KS_PW,))
        cur.execute("GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'127.0.0.1'")
        cur.execute("CREATE USER 'nova'@'127.0.0.1' IDENTIFIED BY %s", (NOVA_PW,))
        cur.execute("GRANT ALL PRIVILEGES ON nova_api.* TO 'nova'@'127.0.0.1'")
        # a grant with the underscore escaped, as some deployment tools write it
        cur.execute("GRANT ALL PRIVILEGES ON `nova\\_cell0`.* TO 'nova'@'127.0.0.1'")
        cur.execute("CREATE USER 'other'@'%%' IDENTIFIED BY %s", (OTHER_PW,))
        cur.execute("GRANT ALL PRIVILEGES ON other.* TO 'other'@'%'")
    conn.close()


def checksums(db, database):
    tables = [r[0] for r in db.sql("SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
                                   "AND table_type='BASE TABLE'", args=(database,))]
    rows = db.sql("CHECKSUM TABLE " + ", ".join("`%s`.`%s`" % (database, t) for t in tables))
    return {r[0].split(".", 1)[1]: r[1] for r in rows}


def accounts(db):
    return db.sql("SELECT User, Host, authentication_string FROM mysql.user WHERE User NOT IN "
                  "('root', 'mysql', 'mariadb.sys', '') ORDER BY User, Host")


def login(db, user, password, database):
    return pymysql.connect(host="127.0.0.1", port=db.port, user=user, password=password,
                           database=database, connect_timeout=5)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    old = PrivateMariadb(tmp_path_factory.mktemp("dbmv-old"), free_port()).start()
    new = PrivateMariadb(tmp_path_factory.mktemp("dbmv-new"), free_port()).start()
    try:
        _seed(old)
        yield old, new
    finally:
        old.stop()
        new.stop()


@pytest.fixture(scope="module")
def work(servers, tmp_path_factory):
    """Both servers' inventory (two hosts on this machine), the dumps as the control plane takes them."""
    old, new = servers
    root = tmp_path_factory.mktemp("dbmv-work")
    inventory = root / "hosts.yml"
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV / "bin" / "python")}
    inventory.write_text(json.dumps({"all": {"hosts": {"db-old": dict(local, backup_dir=str(root / "old")),
                                                       "db-new": dict(local)}}}))
    for component, databases in DATABASES.items():
        proc = run_playbook(REPO / "playbooks" / "backup.yml", inventory=inventory, extra_vars={
            "stackhop_backup_hosts": "db-old", "backup_id": "%s-%s" % (UPGRADE_ID, component),
            "backup_databases": databases, "backup_db_socket": str(old.socket), "backup_verify_load": False,
            "backup_config_paths": [], "backup_state_paths": []},
            extra_env={"STACKHOP_REPORT_DIR": str(root / "reports")})
        assert proc.returncode == 0, proc.stdout[-4000:]
    return {"root": root, "inventory": inventory,
            "before": {db: checksums(old, db) for dbs in DATABASES.values() for db in dbs},
            "accounts_before": accounts(old)}


def load_play(work, old, new, components):
    """The control plane's load phase of each component, as component.yml includes it."""
    play_vars = {"control_plane_backup_dir": str(work["root"] / "old"),
                 "control_plane_upgrade_id": UPGRADE_ID,
                 "control_plane_stage_dir": str(work["root"] / "stage"),
                 "control_plane_backup_db_socket": str(old.socket),
                 "control_plane_db_new_socket": str(new.socket)}
    tasks = [{"name": "Decide where the databases are",
              "ansible.builtin.set_fact": {"__control_plane_db": "{{ 'blue_green' | stackhop.upgrade.db_move("
                                           "['db-old'], ['db-new'], '%s', '%s') }}" % (OLD_HOST, NEW_HOST)}},
             {"name": "Load each component", "loop": components,
              "loop_control": {"loop_var": "__control_plane_component"},
              "ansible.builtin.include_role": {"name": "stackhop.upgrade.control_plane", "tasks_from": "_db_load"}}]
    play = [{"hosts": "db-old:db-new", "gather_facts": False, "vars": play_vars, "tasks": tasks}]
    path = work["root"] / ("load-%s.json" % "-".join(components))
    path.write_text(json.dumps(play))
    return path


@pytest.fixture(scope="module")
def moved(servers, work):
    old, new = servers
    secrets_seen = [KS_PW, NOVA_PW, OTHER_PW] + [r[2] for r in work["accounts_before"]]
    with ArgvSampler(secrets_seen) as sampler:
        proc = run_playbook(load_play(work, old, new, ["keystone", "nova"]), inventory=work["inventory"],
                            extra_env={"STACKHOP_REPORT_DIR": str(work["root"] / "reports")})
    return proc, sampler, secrets_seen


def failures(proc):
    """The output from each failed task on (what the assertion shows)."""
    lines = proc.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("fatal:", "failed:"))]
    return "\n".join("\n".join(lines[max(0, i - 3):i + 25]) for i in starts) or proc.stdout[-6000:]


def test_the_load_passes_and_shows_no_secret(moved):
    proc, sampler, secrets_seen = moved
    assert proc.returncode == 0, failures(proc)
    assert sampler.hits == [], sampler.report()
    for secret in secrets_seen:
        assert secret not in proc.stdout + proc.stderr


def test_every_table_on_the_new_server_equals_the_dump(moved, servers, work):
    old, new = servers
    for component, databases in DATABASES.items():
        set_dir = work["root"] / "old" / ("%s-%s" % (UPGRADE_ID, component))
        reports = sorted(set_dir.glob("restore-*.json"))
        assert reports, "db_restore wrote no report into %s" % set_dir
        report = json.loads(reports[-1].read_text())
        assert sorted(report["databases"]) == sorted(databases)
        assert all(r["verified"] and r["equal"] for r in report["databases"].values()), report
        manifest = json.loads((set_dir / "manifest.json").read_text())
        for db in databases:
            # (cell_mappings was compared right after the load, then its URLs pointed at the new server)
            got = {t: s for t, s in checksums(new, db).items() if t != "cell_mappings"}
            want = {t: s for t, s in work["before"][db].items() if t != "cell_mappings"}
            assert got == want, db
            assert {t: int(s) for t, s in manifest["databases"][db]["tables"].items()} == work["before"][db], db
    assert "other" not in {r[0] for r in new.sql("SHOW DATABASES")}
    # the staged copy on the Ansible controller is gone
    assert not list((work["root"] / "stage").glob("**/*.sql.gz"))


def test_the_service_accounts_work_on_the_new_server(moved, servers):
    _old, new = servers
    with login(new, "keystone", KS_PW, "keystone") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM project")
        assert cur.fetchone()[0] == 300
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT COUNT(*) FROM nova_api.flavors")
    for database, table, rows in (("nova_api", "flavors", 40), ("nova_cell0", "instances", 25)):
        with login(new, "nova", NOVA_PW, database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM %s" % table)
            assert cur.fetchone()[0] == rows
    with pytest.raises(pymysql.err.OperationalError):
        login(new, "keystone", "wrong", "keystone")
    # only the accounts of the moving databases
    assert {r[0] for r in accounts(new)} == {"keystone", "nova"}


def test_cell_mappings_name_the_new_server_there_only(moved, servers):
    old, new = servers
    got = dict(new.sql("SELECT name, database_connection FROM nova_api.cell_mappings"))
    assert got["cell1"] == CELL1.replace(OLD_HOST, NEW_HOST)
    assert got["cell0"] == CELL1.replace(OLD_HOST, NEW_HOST).replace("/nova?", "/nova_cell0?")
    assert got["cell2"].startswith("{scheme}://")
    assert dict(old.sql("SELECT name, database_connection FROM nova_api.cell_mappings"))["cell1"] == CELL1


def test_the_old_server_is_untouched(moved, servers, work):
    old, _new = servers
    for dbs in DATABASES.values():
        for db in dbs:
            assert checksums(old, db) == work["before"][db], db
    assert accounts(old) == work["accounts_before"]


def test_accounts_again_change_nothing(moved, servers, work):
    old, new = servers
    play = [{"hosts": "db-old:db-new", "gather_facts": False, "tasks": [
        {"name": "Read", "when": "inventory_hostname == 'db-old'", "register": "acc", "no_log": True,
         "stackhop.upgrade.db_accounts_info": {"login_user": "root", "login_unix_socket": str(old.socket),
                                               "databases": ["nova_api", "nova_cell0"]}},
        {"name": "Apply", "when": "inventory_hostname == 'db-new'", "register": "out",
         "stackhop.upgrade.db_accounts": {"login_user": "root", "login_unix_socket": str(new.socket),
                                          "databases": ["nova_api", "nova_cell0"],
                                          "accounts": "{{ hostvars['db-old'].acc.accounts }}"}},
        {"name": "Say", "when": "inventory_hostname == 'db-new'",
         "ansible.builtin.assert": {"that": ["out is not changed", "out.statements == []"]}}]}]
    path = work["root"] / "accounts-again.json"
    path.write_text(json.dumps(play))
    proc = run_playbook(path, inventory=work["inventory"], diff=True,
                        extra_env={"STACKHOP_REPORT_DIR": str(work["root"] / "reports")})
    assert proc.returncode == 0, proc.stdout[-4000:]


def _compare(work, server, component):
    play = [{"hosts": "db-new", "gather_facts": False, "tasks": [
        {"name": "Compare", "ansible.builtin.include_role": {"name": "stackhop.upgrade.db_restore",
                                                             "tasks_from": "compare"},
         "vars": {"db_restore_set_dir": str(work["root"] / "old" / ("%s-%s" % (UPGRADE_ID, component))),
                  "db_restore_db_socket": str(server.socket)}}]}]
    path = work["root"] / "compare.json"
    path.write_text(json.dumps(play))
    return run_playbook(path, inventory=work["inventory"],
                        extra_env={"STACKHOP_REPORT_DIR": str(work["root"] / "reports")})


def test_the_old_server_compares_equal_and_a_changed_table_is_found(moved, servers, work):
    old, new = servers
    proc = _compare(work, old, "keystone")
    assert proc.returncode == 0, failures(proc)
    said = " ".join(proc.stdout.split())
    assert "compared 1 database(s) with the dumps of" in said and "every checksum equal to the dump" in said
    # the services write to the new server after the switch: its tables are no longer the dump's
    new.sql("UPDATE user SET enabled = 1 - enabled WHERE id = 'u7'", database="keystone")
    proc = _compare(work, new, "keystone")
    assert proc.returncode != 0
    said = " ".join(proc.stdout.split())
    assert "keystone on this server is not as the dump left it: user" in said, failures(proc)
