"""Fixtures of the package's own pytest suite (run by tests/python_package.rs).

- ``peer(name)``: a peer this test needs (the Secret Service, the reference
  with PyGObject...). Missing: the test fails under CI=true, else it is
  skipped with a loud reason, the rule of every peer test in this project.
- ``run_py(code, impl=...)``: runs Python code in a fresh interpreter of this
  venv, on this package (``impl="rs"``) or on Microsoft's msal-extensions
  installed beside it (``impl="reference"``, switched by MSAL_EXTENSIONS_RS).
- ``FakeIdentityProvider``: an ``http_client`` for MSAL that answers the
  authority's discovery and the token endpoint offline, and counts POSTs.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import offline_idp

HERE = os.path.dirname(os.path.abspath(__file__))
from offline_idp import AUTHORITY, token_event  # noqa: F401  (for the test modules)


def in_ci():
    return os.environ.get("CI", "") in ("true", "1")


def need(condition, what):
    """A missing peer: a failure under CI=true, a loud skip elsewhere."""
    if condition:
        return
    if in_ci():
        pytest.fail("CI=true and %s is not available" % what)
    pytest.skip("!!!!!!!! SKIPPED: %s is not available !!!!!!!!" % what)


@pytest.fixture
def secret_service():
    need(os.environ.get("WITH_SECRET_SERVICE") == "1" and os.environ.get("DBUS_SESSION_BUS_ADDRESS"),
         "a Secret Service (run under scripts/with-secret-service.sh)")


@pytest.fixture
def reference_with_gi():
    """The reference in a venv that sees Debian's PyGObject (scripts/python-peers.sh)."""
    py = os.environ.get("MSALX_PYTHON")
    need(py and os.path.exists(py), "the reference with PyGObject (MSALX_PYTHON from scripts/python-peers.sh)")
    return py


def run_py(code, impl="rs", python=None, env=None, timeout=120, check=True):
    """Runs ``code`` in a new interpreter; returns its stdout parsed as JSON
    when it prints JSON, else the CompletedProcess."""
    e = dict(os.environ)
    e["MSAL_EXTENSIONS_RS"] = "on" if impl == "rs" else "off"
    e.update(env or {})
    p = subprocess.run([python or sys.executable, "-c", textwrap.dedent(code)], env=e,
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("child (%s) failed with %d:\n%s\n%s" % (impl, p.returncode, p.stdout, p.stderr))
    out = p.stdout.strip().splitlines()
    if check and out and out[-1].startswith(("{", "[")):
        return json.loads(out[-1])
    return p


class FakeResponse(object):
    def __init__(self, status_code, body):
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %d" % self.status_code)


class FakeIdentityProvider(object):
    """MSAL's ``http_client`` contract, offline: discovery GETs and token POSTs."""

    def __init__(self, access_token="at-from-idp", user=None):
        self.posts = 0
        self.access_token = access_token
        self.user = user  # None: client credentials; else (uid, utid, username)

    def get(self, url, **kwargs):
        return FakeResponse(200, offline_idp.discovery(url.split("/")[3]))

    def post(self, url, **kwargs):
        self.posts += 1
        return FakeResponse(200, offline_idp.token_response(self.access_token, self.user))

    def close(self):
        pass
