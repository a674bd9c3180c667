"""The package and Microsoft's msal-extensions 1.3.1 share files, lockfiles and
Secret Service items.

The reference runs in child interpreters: from this venv with
MSAL_EXTENSIONS_RS=off (with portalocker, as Azure CLI installs it), from
scripts/python-peers.sh's venvs for the flavour without portalocker
(MSALX_PYTHON_NO_PORTALOCKER) and for libsecret (MSALX_PYTHON, which sees
Debian's PyGObject).
"""
import os
import subprocess
import sys
import time

import pytest

from msal_extensions import CrossPlatLock, LibsecretPersistence, LockError, PersistedTokenCache

from conftest import need, run_py

GRAPH = "https://graph.microsoft.com/.default"

APP = """
import json, sys
sys.path.insert(0, %(here)r)
import msal, msal_extensions
from conftest import FakeIdentityProvider, AUTHORITY
idp = FakeIdentityProvider(access_token=%(token)r)
app = msal.ConfidentialClientApplication(
    %(client)r, client_credential="s", authority=AUTHORITY, http_client=idp,
    token_cache=msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(%(path)r)))
r = app.acquire_token_for_client([%(scope)r])
print(json.dumps([r["access_token"], r["token_source"], idp.posts, "msal_extensions_rs" in msal_extensions.__file__]))
"""


def app(impl, path, client, token="unused", python=None):
    here = os.path.dirname(os.path.abspath(__file__))
    return run_py(APP % dict(here=here, token=token, client=client, path=path, scope=GRAPH),
                  impl=impl, python=python)


@pytest.mark.parametrize("writer,reader", [("rs", "reference"), ("reference", "rs")])
def test_token_cache_file_is_shared_both_ways(tmp_path, writer, reader):
    path = str(tmp_path / "msal_token_cache.json")
    assert app(writer, path, "c1", token="t1") == ["t1", "identity_provider", 1, writer == "rs"]
    assert app(reader, path, "c1") == ["t1", "cache", 0, reader == "rs"]
    # And each side's later write keeps the other's token.
    assert app(reader, path, "c2", token="t2")[:3] == ["t2", "identity_provider", 1]
    assert app(writer, path, "c1")[:2] == ["t1", "cache"]
    assert app(writer, path, "c2")[:2] == ["t2", "cache"]


HOLD = """
import sys, time
from msal_extensions import CrossPlatLock
with CrossPlatLock(sys.argv[1]):
    print("held %.6f" % time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
    print("releasing %.6f" % time.time(), flush=True)
"""


def holder(impl, path, seconds, python=None):
    env = dict(os.environ, MSAL_EXTENSIONS_RS="on" if impl == "rs" else "off")
    p = subprocess.Popen([python or sys.executable, "-c", HOLD, path, str(seconds)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env, stdin=subprocess.DEVNULL)
    line = p.stdout.readline().split()
    assert line[0] == "held", line
    return p, float(line[1])


def reference_flavours():
    return [("with portalocker", sys.executable),
            ("without portalocker", os.environ.get("MSALX_PYTHON_NO_PORTALOCKER"))]


@pytest.mark.parametrize("flavour,python", reference_flavours(), ids=["portalocker", "no-portalocker"])
def test_the_reference_holding_the_lockfile_excludes_us(tmp_path, flavour, python):
    need(python and os.path.exists(python), "the reference %s (scripts/python-peers.sh)" % flavour)
    path = str(tmp_path / "cache.json.lockfile")
    p, _ = holder("reference", path, 1.5, python=python)
    try:
        with pytest.raises(LockError):
            with CrossPlatLock(path, timeout=0.3):
                pass
        with CrossPlatLock(path, timeout=15):
            got = time.time()
        released = float(p.stdout.readline().split()[1])
        assert got >= released, "we held it before the reference let go"
    finally:
        p.wait(30)


@pytest.mark.parametrize("flavour,python", reference_flavours(), ids=["portalocker", "no-portalocker"])
def test_us_holding_the_lockfile_excludes_the_reference(tmp_path, flavour, python):
    need(python and os.path.exists(python), "the reference %s (scripts/python-peers.sh)" % flavour)
    path = str(tmp_path / "cache.json.lockfile")
    ours, _ = holder("rs", path, 1.5)
    try:
        ref, got = holder("reference", path, 0, python=python)
        released = float(ours.stdout.readline().split()[1])
        assert got >= released, "the reference entered while we held the lock"
        ref.wait(30)
    finally:
        ours.wait(30)
    assert not os.path.exists(path)


LIBSECRET = """
import json, sys
from msal_extensions import LibsecretPersistence
p = LibsecretPersistence(%(signal)r, "msal.cache.nocae",
                         {"MsalClientID": "Microsoft.Developer.IdentityService"}, label="MSALCache")
if %(content)r is not None:
    p.save(%(content)r)
print(json.dumps([p.load()]))
"""


def test_libsecret_items_are_shared_with_the_reference(secret_service, reference_with_gi, tmp_path):
    # Azure Identity for Python's names for its Linux cache.
    signal = str(tmp_path / ".IdentityService" / "msal.cache.nocae")
    assert run_py(LIBSECRET % dict(signal=signal, content='{"from": "reference"}'),
                  impl="reference", python=reference_with_gi) == ['{"from": "reference"}']
    assert run_py(LIBSECRET % dict(signal=signal, content=None)) == ['{"from": "reference"}']
    assert run_py(LIBSECRET % dict(signal=signal, content='{"from": "rs"}')) == ['{"from": "rs"}']
    assert run_py(LIBSECRET % dict(signal=signal, content=None),
                  impl="reference", python=reference_with_gi) == ['{"from": "rs"}']
    # The reference's PersistedTokenCache notices our save through the signal file.
    cache = PersistedTokenCache(LibsecretPersistence(
        signal, "msal.cache.nocae", {"MsalClientID": "Microsoft.Developer.IdentityService"}, label="MSALCache"))
    assert cache.is_encrypted and os.path.exists(signal)
