# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Filters over the release model: the upgrade path, the plan and its Markdown.

Each filter's documentation is in the YAML file of the same name next to this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.stackhop.upgrade.plugins.module_utils import release_model as rm


def _wrap(func):
    def inner(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except rm.ReleaseModelError as exc:
            raise AnsibleFilterError(str(exc))
    inner.__name__ = func.__name__
    inner.__doc__ = func.__doc__
    return inner


def upgrade_path(current, target):
    """The hop path from current to target (see release_model.upgrade_path)."""
    return rm.upgrade_path(current, target)


def upgrade_check_release(current, target):
    """The release whose upgrade checks the pre-flight runs (see release_model.check_release)."""
    return rm.check_release(current, target)


def release_info(name):
    """The release model entry of a codename or number."""
    return dict(rm.get_release(name))


def upgrade_quirks(current, target, strategy="blue_green", components=None):
    """The quirks that apply to current -> target."""
    return rm.applicable_quirks(current, target, strategy, components)


def upgrade_plan(computes, current, target, region, strategy="blue_green",
                 component_order=None, components=None, install_method="venv",
                 canary_size=1, batch_percent=25, az=None, az_order=None,
                 nova_archive=None, db_move=None):
    """The whole plan (dict) for a region, or one AZ of it."""
    return rm.build_plan(current, target, region, computes or [], strategy=strategy,
                         component_order=component_order, components=components,
                         install_method=install_method, canary_size=canary_size,
                         batch_percent=batch_percent, az=az or None,
                         az_order=az_order or None, nova_archive=nova_archive or None,
                         db_move=db_move or None)


def control_plane_phases(component, current, target, strategy="blue_green", db_move=None,
                         network_hosts=None, old_hosts=None, new_hosts=None):
    """The phases the control-plane executor runs for one component (the plan's); with the
    inventory's network nodes and controllers, whether the agents have a step of their own
    (release_model.network_nodes_apart)."""
    apart = rm.network_nodes_apart(strategy, None if network_hosts is None else list(network_hosts),
                                   list(old_hosts or []), list(new_hosts or []))
    return rm.control_plane_phases(component, current, target, strategy, db_move=db_move or None,
                                   apart_network_nodes=apart)


def schema_args(component, step="sync"):
    """The migration command's arguments of one schema step (see release_model.schema_args)."""
    return rm.schema_args(component, step)


def nova_archive_step(release, settings=None):
    """What nova's archive of deleted rows runs with this release's code."""
    return rm.nova_archive_step(release, settings or None)


def compute_rollback(current, target, strategy="blue_green"):
    """What the computes' rollback from target back to current does (see release_model.compute_rollback)."""
    return rm.compute_rollback(current, target, strategy)


def plan_markdown(plan):
    """The plan as a Markdown step tree."""
    return rm.plan_markdown(plan)


class FilterModule(object):
    def filters(self):
        return {
            "upgrade_path": _wrap(upgrade_path),
            "upgrade_check_release": _wrap(upgrade_check_release),
            "release_info": _wrap(release_info),
            "upgrade_quirks": _wrap(upgrade_quirks),
            "upgrade_plan": _wrap(upgrade_plan),
            "plan_markdown": _wrap(plan_markdown),
            "nova_archive_step": _wrap(nova_archive_step),
            "control_plane_phases": _wrap(control_plane_phases),
            "schema_args": _wrap(schema_args),
            "compute_rollback": _wrap(compute_rollback),
        }
