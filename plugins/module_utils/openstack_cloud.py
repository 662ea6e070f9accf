# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""One openstacksdk connection from a module's options (doc fragment
stackhop.upgrade.openstack_cloud): the operator's clouds.yaml entry, auth options merged
over it, TLS options, and endpoint overrides that reach one node directly."""

from __future__ import annotations

import sys
import traceback

try:
    import openstack
    OPENSTACKSDK_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the interpreter
    openstack = None
    OPENSTACKSDK_IMPORT_ERROR = traceback.format_exc()

CLOUD_ARGUMENT_SPEC = dict(
    cloud=dict(type="str", default=""),
    auth=dict(type="dict", no_log=True),
    auth_type=dict(type="str"),
    region_name=dict(type="str"),
    interface=dict(type="str", choices=["public", "internal", "admin"]),
    validate_certs=dict(type="bool", aliases=["verify"]),
    ca_cert=dict(type="path", aliases=["cacert"]),
    client_cert=dict(type="path", aliases=["cert"]),
    client_key=dict(type="path", aliases=["key"], no_log=False),
    api_timeout=dict(type="int"),
)

PROJECT_ID = "%(project_id)s"


class CloudError(Exception):
    """Connecting failed; the message is one sentence for the operator."""


def override_key(service_type):
    """openstacksdk's config key of a service type's endpoint override."""
    return "%s_endpoint_override" % service_type.replace("-", "_")


def connect_kwargs(params, overrides=None, project_id=None):
    """openstack.connect's keyword arguments. ``overrides`` is {service_type: url}; a URL
    with %(project_id)s gets ``project_id`` (None: such overrides are left out). An
    identity override also becomes the auth URL: the token comes from that keystone."""
    kwargs = {"cloud": params.get("cloud") or None, "auth": dict(params.get("auth") or {})}
    for option, key in (("auth_type", "auth_type"), ("region_name", "region_name"),
                        ("interface", "interface"), ("validate_certs", "verify"),
                        ("ca_cert", "cacert"), ("client_cert", "cert"),
                        ("client_key", "key"), ("api_timeout", "api_timeout")):
        if params.get(option) is not None:
            kwargs[key] = params[option]
    for service_type, url in sorted((overrides or {}).items()):
        if PROJECT_ID in url:
            if project_id is None:
                continue
            url = url.replace(PROJECT_ID, project_id)
        kwargs[override_key(service_type)] = url
        if service_type == "identity":
            kwargs["auth"]["auth_url"] = url
    if not kwargs["auth"]:
        del kwargs["auth"]
    return kwargs


def describe(params, overrides=None):
    """Where the module talks to, for its messages (never a secret)."""
    where = "cloud %s" % params["cloud"] if params.get("cloud") else "the given auth options"
    if overrides:
        where += " with %s" % ", ".join("%s at %s" % (k, v) for k, v in sorted(overrides.items()))
    return where


def connect(params, overrides=None, host=""):
    """An authorized openstack.connection.Connection, or CloudError with one sentence."""
    if openstack is None:
        raise CloudError(
            "openstacksdk is not importable by %s%s: run the task with a Python that has it "
            "(ansible_python_interpreter, for example the release virtualenv's bin/python) "
            "or install openstacksdk there." % (sys.executable, " on " + host if host else ""))
    where = describe(params, overrides)
    try:
        conn = openstack.connect(**connect_kwargs(params, overrides))
        conn.authorize()
        if any(PROJECT_ID in url for url in (overrides or {}).values()):
            project_id = conn.current_project_id
            conn = openstack.connect(**connect_kwargs(params, overrides, project_id))
            conn.authorize()
    except Exception as exc:  # pylint: disable=broad-except
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise CloudError("could not authenticate to %s: %s: %s; check the clouds.yaml entry, "
                         "the auth options and that keystone answers." % (where, type(exc).__name__, first))
    return conn
