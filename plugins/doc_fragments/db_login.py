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
requirements:
  - PyMySQL in the Python that runs the module
"""
