# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Tempest as the verify phase runs it: the tempest.conf a region gets (which services,
image, flavor, networks and features, from what the region has) and the comparison of a
run before the upgrade with one after it.

Pure functions (no openstacksdk, no tempest import): the modules tempest_config and
tempest_run gather the facts and call these. The option names are tempest's own
(tempest/config.py).
"""

from __future__ import annotations

import io
import json
import re

# catalog service type -> the component (and [service_available] name) it stands for
SERVICE_TYPES = {
    "identity": "keystone",
    "compute": "nova",
    "image": "glance",
    "network": "neutron",
    "block-storage": "cinder",
    "volumev3": "cinder",
    "volume": "cinder",
    "object-store": "swift",
    "placement": "placement",
}
# [service_available] options tempest itself knows (plugins add others)
AVAILABLE = ["cinder", "neutron", "glance", "swift", "nova", "horizon"]
# the part of a test id after tempest.api. -> the component whose API it tests
API_SERVICES = {
    "identity": "keystone",
    "compute": "nova",
    "image": "glance",
    "network": "neutron",
    "volume": "cinder",
    "object_storage": "swift",
}
SECRET = "admin_password"
MASK = "********"


def results_kept(saved, upgrade_id):
    """Whether ``saved`` (a results file's data, or its JSON text; empty when absent) is a
    run of the non-empty ``upgrade_id`` with tests: a re-run of that upgrade keeps it, so
    the run before the upgrade stays the one made before the upgrade started."""
    if isinstance(saved, (str, bytes)):
        try:
            saved = json.loads(saved) if saved.strip() else None
        except ValueError:
            return False
    return bool(upgrade_id and isinstance(saved, dict) and saved.get("upgrade_id") == upgrade_id
                and saved.get("tests"))


class TempestConfError(ValueError):
    """The region lacks what tempest needs (the message says what to do)."""


def _up(services, binary):
    return [s for s in services if s.get("binary") == binary
            and s.get("state") in ("up", True) and s.get("status") in ("enabled", None)]


def _pick(items, wanted, what, region, option):
    """The item named or with id ``wanted``, else the first of ``items``."""
    if wanted:
        for item in items:
            if wanted in (item.get("id"), item.get("name")):
                return item
        raise TempestConfError("%s %s was not found in region %s; create it or set %s to one that exists"
                               % (what, wanted, region, option))
    if not items:
        raise TempestConfError("region %s has no %s for tempest's servers; create one or set %s"
                               % (region, what, option))
    return items[0]


def _images(facts):
    images = [i for i in facts.get("images") or [] if i.get("status") == "active"]
    # cirros-like images first (the smallest the servers boot quickly), then by name
    return sorted(images, key=lambda i: ("cirros" not in (i.get("name") or "").lower(), i.get("name") or ""))


def _flavors(facts):
    flavors = [f for f in facts.get("flavors") or [] if not f.get("is_disabled")]
    return sorted(flavors, key=lambda f: (f.get("ram") or 0, f.get("vcpus") or 0, f.get("disk") or 0, f.get("name") or ""))


def identity_uri(auth_url):
    url = (auth_url or "").rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


def decide(facts, settings=None):
    """tempest.conf for a region: {"sections": {section: {option: value}}, "services":
    {component: bool}, "notes": [why each service or feature is on or off]}.

    ``facts``: what the region has (the module lists it) - ``region``, ``services`` (catalog
    service types), ``auth`` (auth_url, username, project_name, user_domain_name,
    project_domain_name), ``cacert``, ``insecure``, ``images``, ``flavors``, ``networks``
    (id, name, external, shared), ``network_extensions`` (aliases), ``compute_services`` and
    ``volume_services`` (binary, host, state, status).
    ``settings``: ``image``, ``flavor``, ``network`` (names or ids; empty picks), ``validation``
    (bool), ``workspace`` (directory), ``concurrency_lock`` and ``overrides``
    ({section: {option: value}}, applied last). The admin password is not here: the module
    adds it when it writes the file.
    """
    settings = settings or {}
    region = facts.get("region") or "RegionOne"
    types = set(facts.get("services") or [])
    present = {SERVICE_TYPES[t] for t in types if t in SERVICE_TYPES}
    notes = []
    available = {}
    for name in AVAILABLE:
        available[name] = name in present
    compute_up = _up(facts.get("compute_services") or [], "nova-compute")
    volume_up = _up(facts.get("volume_services") or [], "cinder-volume")
    backup_up = _up(facts.get("volume_services") or [], "cinder-backup")
    if available["cinder"] and not volume_up:
        available["cinder"] = False
        notes.append("cinder: no cinder-volume service up, so no volume backend: "
                     "[service_available] cinder = false (the volume tests are skipped, not failed)")
    if available["nova"] and not compute_up:
        available["nova"] = False
        notes.append("nova: no nova-compute service up: [service_available] nova = false")
    for name in AVAILABLE:
        if name not in ("cinder", "nova"):
            notes.append("%s: %s" % (name, "in the catalog" if available[name] else "not in the catalog"))
    if available["cinder"]:
        notes.append("cinder: %d cinder-volume service(s) up" % len(volume_up))
    if available["nova"]:
        notes.append("nova: %d nova-compute service(s) up" % len(compute_up))

    auth = facts.get("auth") or {}
    workspace = settings.get("workspace") or "."
    sections = {
        "DEFAULT": {"log_dir": workspace + "/logs", "log_file": "tempest.log"},
        "oslo_concurrency": {"lock_path": workspace + "/lock"},
        "auth": {
            "use_dynamic_credentials": "true",
            "create_isolated_networks": str(available["neutron"]).lower(),
            "admin_username": auth.get("username") or "admin",
            "admin_project_name": auth.get("project_name") or "admin",
            "admin_domain_name": auth.get("user_domain_name") or "Default",
            "admin_user_domain_name": auth.get("user_domain_name") or "Default",
            "admin_project_domain_name": auth.get("project_domain_name") or "Default",
        },
        "identity": {
            "uri_v3": identity_uri(auth.get("auth_url")),
            "auth_version": "v3",
            "region": region,
            "disable_ssl_certificate_validation": str(bool(facts.get("insecure"))).lower(),
        },
        "identity-feature-enabled": {"api_v2": "false", "api_v3": "true"},
        "service_available": {k: str(v).lower() for k, v in available.items()},
        "validation": {"run_validation": str(bool(settings.get("validation"))).lower()},
    }
    if facts.get("cacert"):
        sections["identity"]["ca_certificates_file"] = facts["cacert"]
    if available["glance"]:
        sections["image"] = {"region": region}
        sections["image-feature-enabled"] = {"api_v1": "false", "api_v2": "true"}
    if available["nova"]:
        images = _images(facts)
        image = _pick(images, settings.get("image"), "active image", region, "verify_tempest_image")
        alt = next((i for i in images if i["id"] != image["id"]), image)
        flavors = _flavors(facts)
        flavor = _pick(flavors, settings.get("flavor"), "flavor", region, "verify_tempest_flavor")
        flavor_alt = next((f for f in flavors if f["id"] != flavor["id"]), flavor)
        sections["compute"] = {
            "region": region,
            "image_ref": image["id"], "image_ref_alt": alt["id"],
            "flavor_ref": flavor["id"], "flavor_ref_alt": flavor_alt["id"],
            "min_compute_nodes": str(len({s.get("host") for s in compute_up})),
        }
        notes.append("compute: image %s, flavor %s (%s MB)" % (
            image.get("name") or image["id"], flavor.get("name") or flavor["id"], flavor.get("ram")))
        hosts = len({s.get("host") for s in compute_up})
        sections["compute-feature-enabled"] = {
            # a second compute to move to
            "live_migration": str(hosts > 1).lower(),
            "cold_migration": str(hosts > 1).lower(),
            "resize": str(hosts > 1 and flavor_alt["id"] != flavor["id"]).lower(),
            "attach_encrypted_volume": "false",
            "console_output": "true",
        }
        if not available["neutron"]:
            sections["compute-feature-enabled"]["interface_attach"] = "false"
    if available["neutron"]:
        networks = facts.get("networks") or []
        external = [n for n in networks if n.get("external")]
        net = {"region": region}
        if settings.get("network"):
            chosen = _pick(networks, settings["network"], "network", region, "verify_tempest_network")
            net["floating_network_name"] = chosen["name"]
            net["public_network_id"] = chosen["id"]
        elif external:
            net["floating_network_name"] = external[0]["name"]
            net["public_network_id"] = external[0]["id"]
        if "public_network_id" in net:
            notes.append("network: external network %s" % net["floating_network_name"])
        else:
            notes.append("network: no external network, the floating IP tests are skipped")
        sections["network"] = net
        extensions = sorted(set(facts.get("network_extensions") or []))
        sections["network-feature-enabled"] = {"api_extensions": ",".join(extensions) or "all",
                                               "ipv6": "true"}
        if "router" not in extensions:
            # no L3: tempest cannot give each test project a routed network of its own;
            # its servers use a shared network instead, and there are no floating IPs
            sections["auth"]["create_isolated_networks"] = "false"
            sections["network-feature-enabled"]["floating_ips"] = "false"
            shared = [n for n in networks if n.get("shared") and not n.get("external")]
            if available["nova"] and shared:
                sections["compute"]["fixed_network_name"] = shared[0]["name"]
            notes.append("network: no router extension (no L3), so no isolated networks per test project and no "
                         "floating IPs; servers on %s" % (shared[0]["name"] if shared else "no shared network"))
    if available["cinder"]:
        sections["volume"] = {"region": region}
        sections["volume-feature-enabled"] = {"backup": str(bool(backup_up)).lower()}
        notes.append("cinder: backup %s" % ("on (cinder-backup up)" if backup_up else "off (no cinder-backup up)"))
    for section, options in (settings.get("overrides") or {}).items():
        sections.setdefault(section, {}).update({k: _ini_value(v) for k, v in (options or {}).items()})
        notes.append("overrides: [%s] %s" % (section, ", ".join(sorted(options or {}))))
    if SECRET in sections.get("auth", {}):
        raise TempestConfError("verify_tempest_conf_overrides sets [auth] admin_password; the password "
                               "comes from the clouds.yaml entry, remove it from the overrides")
    services = {"keystone": True}
    services.update({k: v for k, v in available.items() if k not in ("horizon",)})
    return {"sections": sections, "services": services, "notes": notes}


def _ini_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def render(sections, password=None):
    """The tempest.conf text; the admin password (when given) goes into [auth]."""
    lines = []
    for section, options in sections.items():
        lines.append("[%s]" % section)
        for key, value in options.items():
            lines.append("%s = %s" % (key, value))
        if section == "auth" and password is not None:
            lines.append("%s = %s" % (SECRET, password))
        lines.append("")
    return "\n".join(lines)


# --- results ---------------------------------------------------------------------------

_ATTRS = re.compile(r"\[[^\]]*\]$")
_FIXTURE = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.*)\)$")
# testtools' StreamToDict statuses -> the report's
STATUS = {"success": "passed", "xfail": "passed", "fail": "failed", "uxsuccess": "failed",
          "skip": "skipped", "inprogress": "failed"}


def test_name(test_id):
    """A test id without tempest's attribute suffix ``[id-...,smoke]``."""
    return _ATTRS.sub("", test_id or "").strip()


def service_of(test_id):
    """The component a test exercises: from tempest.api.<api>. (keystone, nova, glance,
    neutron, cinder, swift), ``scenario`` for tempest.scenario, else ``other``."""
    name = test_name(test_id)
    fixture = _FIXTURE.match(name)
    if fixture:
        name = fixture.group(2)
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "tempest" and parts[1] == "api":
        return API_SERVICES.get(parts[2], parts[2])
    if len(parts) > 1 and parts[0] == "tempest" and parts[1] == "scenario":
        return "scenario"
    return "other"


def results(events):
    """{test name: passed|failed|skipped} from (test id, subunit status) pairs; the last
    status of a test wins, ``exists`` is not a result."""
    out = {}
    for test_id, status in events:
        if status not in STATUS:
            continue
        out[test_name(test_id)] = STATUS[status]
    return out


def counts(tests):
    """{component: {passed, failed, skipped}} of a {test: status} mapping."""
    out = {}
    for test, status in tests.items():
        entry = out.setdefault(service_of(test), {"passed": 0, "failed": 0, "skipped": 0})
        entry[status] += 1
    return dict(sorted(out.items()))


def _class_of(test):
    fixture = _FIXTURE.match(test)
    return fixture.group(2) if fixture else test.rsplit(".", 1)[0]


def compare(before, after, missing=True):
    """Tests that passed before and do not pass after.

    ``before``/``after``: {test: passed|failed|skipped}. A test that passed before fails
    after when it failed, or when it did not run after while a fixture of its class
    (setUpClass ...) failed or (``missing``: both runs selected the same tests) when the
    test is missing. A test skipped after is not a regression (listed as
    ``passed_then_skipped``). Returns {"regressions": [{test,
    before, after}], "passed_then_skipped": [...], "fixed": [...]}.
    """
    failed_classes = {_class_of(t) for t, s in after.items() if s == "failed" and _FIXTURE.match(t)}
    regressions, skipped, fixed = [], [], []
    for test in sorted(before):
        if before[test] != "passed":
            if after.get(test) == "passed":
                fixed.append(test)
            continue
        now = after.get(test)
        if now == "failed":
            regressions.append({"test": test, "before": "passed", "after": "failed"})
        elif now is None and _class_of(test) in failed_classes:
            regressions.append({"test": test, "before": "passed", "after": "failed (setUpClass)"})
        elif now is None and missing:
            regressions.append({"test": test, "before": "passed", "after": "did not run"})
        elif now == "skipped":
            skipped.append(test)
    return {"regressions": regressions, "passed_then_skipped": skipped, "fixed": fixed}


def table(before_counts, after_counts):
    """Rows {service, before: {passed, failed, skipped} or None, after: {...}} of every
    service in either run."""
    rows = []
    for service in sorted(set(before_counts or {}) | set(after_counts or {})):
        rows.append({"service": service,
                     "before": (before_counts or {}).get(service) if before_counts is not None else None,
                     "after": (after_counts or {}).get(service)})
    return rows


def regression_sentence(regressions, host=""):
    """One sentence naming every test that passed before the upgrade and fails after."""
    names = ", ".join("%s (%s)" % (r["test"], r["after"]) for r in regressions)
    return ("tempest: %d test(s) passed before the upgrade and fail after it%s: %s; fix the "
            "region (the tempest log on that host names the cause) and re-run verify"
            % (len(regressions), (" on %s" % host) if host else "", names))


def subunit_events(data):
    """(test id, status) pairs of a subunit v2 stream (``stestr last --subunit``), read with
    python-subunit and testtools (the tempest venv has both: run the module with its Python)."""
    import subunit  # pylint: disable=import-error,import-outside-toplevel
    import testtools  # pylint: disable=import-error,import-outside-toplevel
    events = []
    stream = subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name="stdout")
    result = testtools.StreamToDict(lambda test: events.append((test["id"], test["status"])))
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()
    return events


def _cell(entry):
    if not entry:
        return "-"
    return "%d / %d / %d" % (entry.get("passed", 0), entry.get("failed", 0), entry.get("skipped", 0))


def markdown(result):
    """Tempest's before/after table as Markdown lines: passed / failed / skipped per service
    before and after, then every test that passed before and fails after.

    ``result``: {table: [{service, before, after}], regressions: [{test, before, after}],
    seconds, before_seconds, compared, version} (the verify role's, or the report's record).
    """
    lines = ["| tempest %s: service | before (passed / failed / skipped) | after (passed / failed / skipped) |"
             % (result.get("version") or ""), "|---|---:|---:|"]
    totals = {"before": {}, "after": {}}
    for row in result.get("table") or []:
        lines.append("| %s | %s | %s |" % (row["service"], _cell(row.get("before")), _cell(row.get("after"))))
        for side in ("before", "after"):
            for key, value in (row.get(side) or {}).items():
                totals[side][key] = totals[side].get(key, 0) + value
    only_before = result.get("phase") == "before"
    lines.append("| **all** | %s | %s |" % (
        _cell(totals["before"]) if result.get("compared") or only_before else "-", _cell(totals["after"])))
    seconds = result.get("seconds")
    before_seconds = result.get("before_seconds")
    lines.append("")
    lines.append("Tempest ran %s before and %s after the upgrade." % (
        "%.0f s" % float(before_seconds) if before_seconds not in (None, "") else "-",
        "%.0f s" % float(seconds) if seconds not in (None, "") else "-"))
    regressions = result.get("regressions") or []
    if only_before:
        lines.append("Saved for the verify phase, which runs tempest again after the upgrade and compares.")
    elif not result.get("compared"):
        lines.append("No tempest run was saved before the upgrade: nothing compared.")
    elif regressions:
        lines.append("Passed before, fail after (%d):" % len(regressions))
        lines += ["- %s (%s)" % (r["test"], r["after"]) for r in regressions]
    else:
        lines.append("No test that passed before fails after.")
    return lines
