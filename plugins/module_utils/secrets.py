# -*- coding: utf-8 -*-
# Copyright: stackhop contributors
# Apache License 2.0 (see LICENSE)
"""Keep passwords out of results: mask them in SQLAlchemy and oslo.messaging URLs.

``mask_url`` hides the password of every ``user:password@host`` part of a URL, also in
transport URLs with several hosts (``rabbit://u:p@h1:5672,u:p@h2:5672/vhost``).
``Masker`` remembers the secrets of the URLs a module handles and masks them anywhere in
a text (command output, error messages), in every spelling (raw, percent-encoded,
percent-decoded), so a password never leaves the module even outside a URL.
"""

from __future__ import absolute_import, division, print_function

import re

try:
    from urllib.parse import quote, unquote
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import quote, unquote

__metaclass__ = type

MASK = "********"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", re.S)
# One "user:password@" of a host list: it starts the authority or follows a comma; the
# password runs (non-greedily) to the "@" that is followed by a host without "@".
_USERINFO = re.compile(r"(^|,)([^:@,/]*):(.*?)@(?=[^@,]*(?:,|$))", re.S)
# A URL inside a longer text (used when masking free text).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def _split(url):
    """(scheme, authority, rest) of a URL, or None when it has no ``scheme://``."""
    match = _SCHEME.match(url or "")
    if not match:
        return None
    scheme, tail = match.groups()
    # Passwords may hold "/" or "?" (SQLAlchemy allows anything but "@"): the authority
    # ends at the first "/", "?" or "#" after the last "@".
    at = tail.rfind("@")
    end = len(tail)
    for sep in "/?#":
        pos = tail.find(sep, at + 1)
        if pos != -1:
            end = min(end, pos)
    return scheme, tail[:end], tail[end:]


def url_passwords(url):
    """The passwords of every host part of ``url`` (may be empty)."""
    parts = _split(url)
    if not parts:
        return []
    return [m.group(3) for m in _USERINFO.finditer(parts[1]) if m.group(3)]


def mask_url(url):
    """``url`` with every password replaced by ``********`` (other parts kept)."""
    if not url:
        return url
    parts = _split(url)
    if not parts:
        return url
    scheme, authority, rest = parts
    masked = _USERINFO.sub(
        lambda m: "%s%s:%s@" % (m.group(1), m.group(2), MASK if m.group(3) else ""),
        authority)
    return scheme + masked + rest


class Masker:
    """Collects secrets and masks them (and every URL's password) in any text."""

    def __init__(self):
        self.secrets = set()

    def add_url(self, url):
        for password in url_passwords(url or ""):
            self.add(password)
        return url

    def add(self, secret):
        if not secret:
            return
        for variant in (secret, unquote(secret), quote(secret, safe=""),
                        quote(unquote(secret), safe="")):
            # A one or two character "secret" would mask half the output: URL
            # masking still covers it where it appears in a URL.
            if variant and len(variant) >= 3:
                self.secrets.add(variant)

    def mask(self, value):
        """``value`` (str, list, dict, other) with every known secret masked."""
        if isinstance(value, dict):
            return dict((k, self.mask(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [self.mask(v) for v in value]
        if not isinstance(value, str):
            return value
        text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), value)
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text


# Names of environment variables that hold secrets (OS_PASSWORD, DB_PASS, AUTH_TOKEN,
# API_KEY, OS_CREDENTIALS_FILE is not one: it names a file).
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL(?!S?_FILE$)", re.I)


def secret_environment_problem(environment, module):
    """One sentence when ``environment`` (a module's option, shown unmasked in its
    invocation) names a variable that looks like a secret; else ''."""
    names = sorted(name for name in (environment or {}) if _SECRET_NAME.search(str(name)))
    if not names:
        return ""
    return ("%s's environment names %s, which looks like a secret and would show in the task's "
            "output: pass it in a file the command reads (its config) instead." % (module, ", ".join(names)))
