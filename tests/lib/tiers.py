"""Which tests a run takes: the rehearsals chosen by STACKHOP_REHEARSAL, and what becomes
of a test that needs root when the run is not root (skipped here, fatal under CI=true).

Only the standard library: tests/conftest.py and scripts/rehearse.sh's helper use it.
"""

from __future__ import annotations

REHEARSAL_ENV = "STACKHOP_REHEARSAL"


def rehearsal_selected(name, selection):
    """Whether the rehearsal ``name`` runs under STACKHOP_REHEARSAL=``selection``: a
    rehearsal's name, several joined by commas, or ``all``; unset or empty runs none."""
    wanted = {part.strip() for part in (selection or "").split(",") if part.strip()}
    return "all" in wanted or name in wanted


def ci_enabled(environ):
    """CI=true, as CI services set it."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def root_verdict(euid, ci):
    """What becomes of the tests that need root: ``run`` as root; otherwise ``skip`` on a
    developer's machine, ``fail`` in CI, where a skip would pass a run that proved
    nothing about namespaces, Open vSwitch, iptables or MariaDB."""
    if euid == 0:
        return "run"
    return "fail" if ci else "skip"
