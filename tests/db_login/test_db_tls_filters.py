"""db_tls_query and db_tls_client_options: stackhop_db_tls as a URL query and option-file lines."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.stackhop.upgrade.plugins.filter.db_tls import db_tls_client_options, db_tls_query

FULL = {"ca_cert": "/etc/ssl/db ca.pem", "client_cert": "/etc/ssl/c.pem", "client_key": "/etc/ssl/c.key"}


@pytest.mark.parametrize("unset", [None, "", {}, {"ca_cert": "", "client_cert": None},
                                   {"check_hostname": False}])
def test_unset_adds_nothing(unset):
    assert db_tls_query(unset) == ""
    assert db_tls_client_options(unset) == []


def test_url_query_sqlalchemy_reads():
    assert db_tls_query(FULL) == "?ssl_ca=/etc/ssl/db%20ca.pem&ssl_cert=/etc/ssl/c.pem&ssl_key=/etc/ssl/c.key"
    assert db_tls_query(dict(FULL, check_hostname="no")).endswith("&ssl_check_hostname=false")
    assert db_tls_query(dict(FULL, check_hostname=True)) == db_tls_query(FULL)


def test_client_options_mariadb_and_mysql():
    assert db_tls_client_options(FULL) == [
        "ssl-ca=/etc/ssl/db ca.pem", "ssl-cert=/etc/ssl/c.pem", "ssl-key=/etc/ssl/c.key", "ssl",
        "ssl-verify-server-cert"]
    assert db_tls_client_options(dict(FULL, check_hostname=False))[-1] == "ssl"
    assert db_tls_client_options(FULL, False)[-1] == "ssl-mode=VERIFY_IDENTITY"
    assert db_tls_client_options(dict(FULL, check_hostname=False), False)[-1] == "ssl-mode=VERIFY_CA"
    assert db_tls_client_options({"client_cert": "/c.pem"}, False) == ["ssl-cert=/c.pem", "ssl-mode=REQUIRED"]


def test_unknown_keys_and_types_are_refused():
    with pytest.raises(AnsibleFilterError, match="unknown key ssl_ca: use ca_cert"):
        db_tls_query({"ssl_ca": "/x"})
    with pytest.raises(AnsibleFilterError, match="must be a dict"):
        db_tls_client_options("/etc/ssl/ca.pem")
