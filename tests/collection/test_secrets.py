"""Pure-Python tests of URL masking (plugins/module_utils/secrets.py) and URL parsing
(plugins/module_utils/dburl.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# scripts/setup.sh links this checkout as build/collections/ansible_collections/stackhop/upgrade.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "build" / "collections"))

from ansible_collections.stackhop.upgrade.plugins.module_utils import dburl  # noqa: E402
from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import (  # noqa: E402
    MASK,
    Masker,
    mask_url,
    url_passwords,
)


@pytest.mark.parametrize("url, masked", [
    ("mysql+pymysql://nova:s3cret@db.example:3306/nova?charset=utf8",
     "mysql+pymysql://nova:%s@db.example:3306/nova?charset=utf8" % MASK),
    ("rabbit://nova:pw1@h1:5672,nova:pw2@h2:5672,nova:pw3@h3:5672/vhost",
     "rabbit://nova:{m}@h1:5672,nova:{m}@h2:5672,nova:{m}@h3:5672/vhost".format(m=MASK)),
    # Passwords holding "@", "/", ",", ":" and "?" (SQLAlchemy allows all but "@"
    # unencoded; oslo.messaging splits hosts on ",").
    ("mysql+pymysql://nova:p@ss/w:rd?x@db/nova", "mysql+pymysql://nova:%s@db/nova" % MASK),
    ("rabbit://nova:a,b@h1:5672/", "rabbit://nova:%s@h1:5672/" % MASK),
    ("mysql+pymysql://nova:p%40ss%2Fw@[::1]:3306/nova", "mysql+pymysql://nova:%s@[::1]:3306/nova"
     % MASK),
    ("rabbit://guest@h1/", "rabbit://guest@h1/"),
    ("none:///", "none:///"),
    ("mysql+pymysql:///nova?unix_socket=/run/mysqld/mysqld.sock",
     "mysql+pymysql:///nova?unix_socket=/run/mysqld/mysqld.sock"),
    ("sqlite:////var/lib/nova/nova.sqlite", "sqlite:////var/lib/nova/nova.sqlite"),
    ("not a url", "not a url"),
    ("", ""),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_url_passwords_of_every_host():
    assert url_passwords("rabbit://a:x1@h1,b:x2@h2/") == ["x1", "x2"]
    assert url_passwords("mysql://u@h/db") == []


def test_masker_masks_free_text_in_every_spelling():
    m = Masker()
    m.add_url("mysql+pymysql://nova:p%40ss-Wd1@db/nova")
    text = ("error: Access denied using p@ss-Wd1 (url mysql+pymysql://nova:p%40ss-Wd1@db/nova) "
            "and p%40ss-Wd1 and rabbit://x:other-secret@h/")
    out = m.mask(text)
    assert "p@ss-Wd1" not in out and "p%40ss-Wd1" not in out and "other-secret" not in out
    assert m.mask({"a": [text], "n": 3}) == {"a": [out], "n": 3}


def test_dburl_connect_args():
    args = dburl.connect_args(
        "mysql+pymysql://nova:p%40ss@db.example:3307/nova_api?charset=utf8&ssl_ca=/ca.pem")
    assert args["host"] == "db.example" and args["port"] == 3307
    assert args["user"] == "nova" and args["password"] == "p@ss"
    assert args["database"] == "nova_api" and args["charset"] == "utf8"
    assert args["ssl"] == {"ca": "/ca.pem"}
    sock = dburl.connect_args("mysql+pymysql://nova:pw@/nova?unix_socket=/run/m.sock")
    assert sock["unix_socket"] == "/run/m.sock"


def test_dburl_refuses_other_dialects_without_the_password():
    with pytest.raises(dburl.DbUrlError) as exc:
        dburl.connect_args("postgresql://nova:topsecret@db/nova")
    assert "topsecret" not in str(exc.value) and "postgresql" in str(exc.value)
    with pytest.raises(dburl.DbUrlError) as exc:
        dburl.connect_args("garbage-with-topsecret")
    assert "topsecret" not in str(exc.value)


def test_with_database_keeps_credentials_and_query():
    assert dburl.with_database("mysql+pymysql://u:p@h:3306/nova?charset=utf8", "nova_cell0") == (
        "mysql+pymysql://u:p@h:3306/nova_cell0?charset=utf8")
    assert dburl.with_database("mysql+pymysql://u:p@h/nova", "x") == "mysql+pymysql://u:p@h/x"


def test_an_environment_option_naming_a_secret_is_refused_in_one_sentence():
    from ansible_collections.stackhop.upgrade.plugins.module_utils.secrets import secret_environment_problem
    assert secret_environment_problem({"OS_NOVA_CONFIG_DIR": "/etc/nova", "OS_CREDENTIALS_FILE": "/x"}, "m") == ""
    assert secret_environment_problem({}, "m") == "" and secret_environment_problem(None, "m") == ""
    for name in ("OS_PASSWORD", "db_pass", "AUTH_TOKEN", "API_KEY", "KEY", "APP_SECRET", "OS_CREDENTIAL"):
        problem = secret_environment_problem({name: "x", "PATH": "/bin"}, "db_migrate")
        assert problem.startswith("db_migrate's environment names %s, which looks like a secret" % name), problem
        assert problem.endswith("instead.") and problem.count(".") == 1
    # not a key: KEYSTONE_URL, MONKEY
    assert secret_environment_problem({"KEYSTONE_URL": "u", "MONKEY": "m"}, "m") == ""
