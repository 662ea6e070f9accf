"""Fixtures of the control-plane tests.

``mariadb``         a private MariaDB on a free loopback port (own datadir and socket).
``keystone_venvs``  real keystone 2024.1 and 2025.2 from PyPI in cached venvs
                    (tests/lib/openstack_venv.py); 2025.2 adds a migration 2024.1 does
                    not know, which is what a fast-forward re-run meets.
"""

from __future__ import annotations

import os

import pytest

from tests.lib.openstack_venv import ensure_venv
from tests.lib.private_mariadb import PrivateMariadb, free_port

PORT = int(os.environ.get("STACKHOP_CP_MARIADB_PORT") or free_port())
DB_PASSWORD = "cpKsDbPw-9Vz3Lq"

KEYSTONE = {
    "2024.1": ("cp-keystone-2024.1", ["keystone==25.*", "PyMySQL"], "2024-06-01"),
    # without the floor the resolver pairs cryptography 46 with a pyOpenSSL that predates it
    "2025.2": ("cp-keystone-2025.2", ["keystone==28.*", "PyMySQL", "pyOpenSSL>=25"], "2025-12-01"),
}


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    db = PrivateMariadb(tmp_path_factory.mktemp("cp-mariadb"), PORT)
    db.start()
    yield db
    db.stop()


@pytest.fixture(scope="session")
def keystone_venvs():
    return {rel: ensure_venv(*spec) for rel, spec in KEYSTONE.items()}
