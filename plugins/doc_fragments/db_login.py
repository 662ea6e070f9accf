# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations


class ModuleDocFragment:
    # How every stackhop database module logs in to MariaDB or MySQL
    # (plugins/module_utils/db_login.py).
    DOCUMENTATION = r"""
options:
  login_user:
    description: The service's own database user (the module reads what this user may read).
    type: str
    required: true
  login_password:
    description: Its password. Never logged, never on a command line.
    type: str
    default: ''
  login_host:
    description: Database server address.
    type: str
    default: 127.0.0.1
  login_port:
    description: Database server port.
    type: int
    default: 3306
  login_unix_socket:
    description: Unix socket to connect through instead of O(login_host) and O(login_port).
    type: path
  connect_timeout:
    description: Seconds to wait for the database connection.
    type: int
    default: 10
  ca_cert:
    description:
      - CA certificate (PEM) that signed the database server's certificate, on the host
        that runs the module. Given, the connection uses TLS and the server's certificate
        is verified against it (and its name, see O(check_hostname)).
      - A path that does not exist fails before connecting.
      - Without O(ca_cert), O(client_cert) and O(client_key) no TLS option is passed to
        PyMySQL (its own default applies, as before these options).
    type: path
    aliases: [ssl_ca]
  client_cert:
    description:
      - Client certificate (PEM) to log in with, for a user created C(REQUIRE X509) or
        C(REQUIRE SUBJECT). Given without O(ca_cert), the connection is encrypted but the
        server's certificate is not verified (like C(mysql --ssl)).
    type: path
    aliases: [ssl_cert]
  client_key:
    description: Private key (PEM, not encrypted) of O(client_cert); needs O(client_cert).
    type: path
    aliases: [ssl_key]
  check_hostname:
    description:
      - Whether the server's certificate must name O(login_host), as community.mysql's
        option of the same name.
      - Unset means V(true) when O(ca_cert) is given. V(false) still verifies the
        certificate against O(ca_cert) but accepts any name in it. V(true) without
        O(ca_cert) fails (there is nothing to verify the name with).
    type: bool
requirements:
  - PyMySQL in the Python that runs the module (0.10 or later for the TLS options)
notes:
  - A connection that fails over TLS names the server and the option to fix
    (O(ca_cert) for a certificate it does not verify, O(check_hostname) or O(login_host)
    for a name mismatch, O(client_cert) and O(client_key) for a rejected handshake).
"""
