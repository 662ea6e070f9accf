# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations


class ModuleDocFragment:
    # How every stackhop module that talks to the cloud's APIs connects: through
    # openstacksdk, with the operator's clouds.yaml entry and the same option names as the
    # openstack.cloud collection (plugins/module_utils/openstack_cloud.py).
    DOCUMENTATION = r"""
options:
  cloud:
    description:
      - The entry of C(clouds.yaml) (or C(secure.yaml)) to use, as openstacksdk finds it on
        the host that runs the module (C(OS_CLIENT_CONFIG_FILE), C(~/.config/openstack),
        C(/etc/openstack)). It holds the auth URL, user, domains, project or system scope,
        CA file and interface, so any domain and scope the operator uses works.
      - Empty uses O(auth) and the C(OS_*) environment of the module only.
    type: str
    default: ''
  auth:
    description:
      - Auth options merged over those of O(cloud) (C(auth_url), C(username),
        C(password), C(project_name), C(user_domain_name), ...), as openstack.cloud's
        modules take them. Never logged.
    type: dict
  auth_type:
    description: The keystoneauth plugin (V(password), V(v3applicationcredential), V(token), ...); default that of O(cloud).
    type: str
  region_name:
    description: The region whose endpoints are used; default that of O(cloud).
    type: str
  interface:
    description: The catalog interface of the endpoints; default that of O(cloud), else V(public).
    type: str
    choices: [public, internal, admin]
  validate_certs:
    description: Verify the APIs' TLS certificates; default that of O(cloud) (its C(verify)), else V(true).
    type: bool
    aliases: [verify]
  ca_cert:
    description: CA bundle (PEM) to verify the APIs' certificates with, on the host that runs the module.
    type: path
    aliases: [cacert]
  client_cert:
    description: Client certificate (PEM) for APIs that ask for one.
    type: path
    aliases: [cert]
  client_key:
    description: Key of O(client_cert).
    type: path
    aliases: [key]
  api_timeout:
    description: Seconds an API request may take before it fails.
    type: int
requirements:
  - openstacksdk, importable by the Python that runs the module (for example the release
    virtualenv's, through C(ansible_python_interpreter)).
"""
