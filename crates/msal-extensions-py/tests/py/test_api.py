"""The package keeps the reference's API and replaces its failure modes.

Run by tests/python_package.rs in the venv scripts/py-package.sh builds.
"""
import errno
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time

import msal
import pytest

import msal_extensions
from msal_extensions import (CrossPlatLock, FilePersistence, LockError, PersistedTokenCache,
                             build_encrypted_persistence)
from msal_extensions.persistence import (BasePersistence, FilePersistenceWithDataProtection,
                                         KeychainPersistence, LibsecretPersistence, PersistenceError,
                                         PersistenceNotFound)

from conftest import FakeIdentityProvider, run_py, token_event, AUTHORITY

AT = msal.TokenCache.CredentialType.ACCESS_TOKEN


def scopes_in(path):
    with open(path) as f:
        return sorted(e["target"] for e in json.load(f).get("AccessToken", {}).values())


# ------------------------------------------------------------------ the switch and the names
def test_import_resolves_to_this_package_with_the_reference_installed_beside():
    assert "msal_extensions_rs" in msal_extensions.__file__
    assert msal_extensions.__version__ == "1.3.1"
    from importlib.metadata import version
    assert version("msal-extensions") == "1.3.1", "Microsoft's distribution stays installed"
    ref = run_py("import json, msal_extensions as m; print(json.dumps([m.__file__]))", impl="reference")
    assert "msal_extensions_rs" not in ref[0], "MSAL_EXTENSIONS_RS=off loads Microsoft's package"


def test_public_names_and_exception_hierarchy_match_the_reference():
    for name in ["FilePersistence", "FilePersistenceWithDataProtection", "KeychainPersistence",
                 "LibsecretPersistence", "build_encrypted_persistence", "PersistedTokenCache",
                 "CrossPlatLock", "LockError"]:
        assert hasattr(msal_extensions, name), name
    assert issubclass(PersistedTokenCache, msal.SerializableTokenCache)
    assert issubclass(PersistenceNotFound, PersistenceError) and issubclass(PersistenceError, IOError)
    assert issubclass(LockError, RuntimeError)
    from msal_extensions import cache_lock, filelock, token_cache
    assert cache_lock.CrossPlatLock is filelock.CrossPlatLock is token_cache.CrossPlatLock is CrossPlatLock
    assert cache_lock.LockError is LockError
    e = PersistenceNotFound(location="x")
    assert (e.errno, e.strerror, e.filename) == (errno.ENOENT, "Persistence not found", "x")
    for cls in (FilePersistence, LibsecretPersistence, KeychainPersistence, FilePersistenceWithDataProtection):
        assert issubclass(cls, BasePersistence)


def test_import_does_not_load_msal_until_the_token_cache_is_used():
    out = run_py("""
        import json, sys, msal_extensions
        before = "msal" in sys.modules
        msal_extensions.PersistedTokenCache
        print(json.dumps([before, "msal" in sys.modules]))""")
    assert out == [False, True]


# ------------------------------------------------------------------ FilePersistence
def test_file_persistence_round_trip_is_atomic_and_private(tmp_path):
    p = FilePersistence(str(tmp_path / "sub" / "cache.bin"))
    with pytest.raises(PersistenceNotFound) as e:
        p.load()
    assert e.value.errno == errno.ENOENT and "save() first" in e.value.strerror
    with pytest.raises(PersistenceNotFound):
        p.time_last_modified()
    assert p.is_encrypted is False, "the Rust backend's answer"
    p.save("one")
    first = os.stat(p.get_location())
    p.save("two")
    second = os.stat(p.get_location())
    assert p.load() == "two"
    assert stat.S_IMODE(second.st_mode) == 0o600
    assert first.st_ino != second.st_ino, "a save replaces the file (temp file + rename), never writes in place"
    assert abs(p.time_last_modified() - second.st_mtime) < 1e-3
    assert os.listdir(str(tmp_path / "sub")) == ["cache.bin"], "no temporary file left"


def test_file_persistence_expands_home_and_touches(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    p = FilePersistence("~/a/b.json")
    assert p.get_location() == str(tmp_path / "a" / "b.json")
    p.touch()
    assert p.load() == ""
    with pytest.raises(ValueError):
        FilePersistence("")


def test_platform_backends_fail_at_construction_elsewhere(tmp_path):
    # As in the reference, an unusable backend fails when it is built.
    with pytest.raises(OSError):
        FilePersistenceWithDataProtection(str(tmp_path / "c.bin"))
    with pytest.raises(OSError):
        KeychainPersistence(str(tmp_path / "c.bin"))


# ------------------------------------------------------------------ CrossPlatLock
HOLD = """
import sys, time
from msal_extensions import CrossPlatLock
with CrossPlatLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(path, seconds, impl="rs"):
    env = dict(os.environ, MSAL_EXTENSIONS_RS="on" if impl == "rs" else "off")
    p = subprocess.Popen([sys.executable, "-c", HOLD, path, str(seconds)], stdout=subprocess.PIPE,
                         text=True, env=env, stdin=subprocess.DEVNULL)
    assert p.stdout.readline().strip() == "held"
    return p


def test_lock_writes_pid_and_program_and_deletes_the_lockfile(tmp_path):
    path = str(tmp_path / "c.lockfile")
    with CrossPlatLock(path) as lock:
        assert isinstance(lock, CrossPlatLock)
        with open(path) as f:
            pid, program = f.read().split(" ", 1)
        assert int(pid) == os.getpid() and program
    assert not os.path.exists(path)


def test_lock_waits_for_another_process_then_times_out_with_lock_error(tmp_path):
    path = str(tmp_path / "c.lockfile")
    holder = hold_lock(path, 3)
    try:
        t = time.monotonic()
        with pytest.raises(LockError) as e:
            with CrossPlatLock(path, timeout=0.5):
                pass
        assert 0.4 < time.monotonic() - t < 2.5
        assert str(holder.pid) in str(e.value), "the message names the holder"
    finally:
        holder.kill()
        holder.wait()


def test_the_default_lock_timeout_comes_from_the_environment(tmp_path, monkeypatch):
    path = str(tmp_path / "c.lockfile")
    from msal_extensions import _core, filelock
    monkeypatch.delenv("MSAL_EXTENSIONS_RS_LOCK_TIMEOUT", raising=False)
    assert filelock._default_timeout() == _core.DEFAULT_LOCK_TIMEOUT == 10
    holder = hold_lock(path, 3)
    try:
        monkeypatch.setenv("MSAL_EXTENSIONS_RS_LOCK_TIMEOUT", "0.3")
        t = time.monotonic()
        with pytest.raises(LockError):
            PersistedTokenCache(FilePersistence(str(tmp_path / "c"))).add(token_event("s"))
        assert time.monotonic() - t < 2.5, "waited the environment's 0.3 s, not the default 10 s"
        monkeypatch.setenv("MSAL_EXTENSIONS_RS_LOCK_TIMEOUT", "soon")
        with pytest.raises(ValueError):
            CrossPlatLock(path)
    finally:
        holder.kill()
        holder.wait()


def test_a_crashed_holders_lockfile_is_taken_over_at_once(tmp_path):
    path = str(tmp_path / "c.lockfile")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(path, "w") as f:
        f.write("%d /crashed/app.py" % dead.pid)
    t = time.monotonic()
    with CrossPlatLock(path, timeout=5):
        pass
    assert time.monotonic() - t < 1.0, "the reference waits 5 s here"


# ------------------------------------------------------------------ PersistedTokenCache
def test_a_write_is_seen_whatever_its_mtime_says(tmp_path):
    """Searches compare change tokens, never the file's mtime with the clock:
    a write stamped in the past (skewed clock, coarse mtime) is still seen.
    The reference's `_last_sync < mtime` test misses it."""
    path = str(tmp_path / "cache.json")
    reader = PersistedTokenCache(FilePersistence(path))
    writer = PersistedTokenCache(FilePersistence(path))
    writer.add(token_event("s1"))
    assert len(list(reader.search(AT, target=["s1"]))) == 1
    writer.add(token_event("s2"))
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert len(list(reader.search(AT, target=["s2"]))) == 1


def test_every_modify_reloads_under_the_lock_so_nothing_is_lost(tmp_path):
    path = str(tmp_path / "cache.json")
    a, b = PersistedTokenCache(FilePersistence(path)), PersistedTokenCache(FilePersistence(path))
    for i in range(5):
        a.add(token_event("a%d" % i))
        b.add(token_event("b%d" % i))
    assert scopes_in(path) == sorted(["a%d" % i for i in range(5)] + ["b%d" % i for i in range(5)])


class CountingLock(object):
    def __init__(self, inner):
        self.inner, self.acquired = inner, 0

    def acquire(self):
        self.acquired += 1
        self.inner.acquire()

    def release(self):
        self.inner.release()


def test_add_is_one_lock_round_and_an_unchanged_modify_saves_nothing(tmp_path):
    path = str(tmp_path / "cache.json")
    cache = PersistedTokenCache(FilePersistence(path))
    cache._xlock = counting = CountingLock(cache._xlock)
    user = FakeIdentityProvider(user=("uid1", "utid1", "ada@contoso.com"))
    cache.add({"client_id": "c", "scope": ["User.Read"], "token_endpoint": AUTHORITY + "/oauth2/v2.0/token",
               "response": json.loads(user.post("x").text), "grant_type": "authorization_code"})
    assert counting.acquired == 1, "the reference takes one lock round per entry (5 here)"
    assert len(list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))) == 1
    inode = os.stat(path).st_ino
    entry = list(cache.search(AT, target=["User.Read"]))[0]
    cache.modify(AT, entry, {"secret": entry["secret"]})  # same value
    cache.modify(msal.TokenCache.CredentialType.ID_TOKEN, {"home_account_id": "nobody"})  # removes nothing
    assert os.stat(path).st_ino == inode, "nothing changed, nothing saved"
    cache.modify(AT, entry, {"secret": "rotated"})
    assert os.stat(path).st_ino != inode


def test_saves_are_atomic_json_readable_by_msal(tmp_path):
    path = str(tmp_path / "cache.json")
    cache = PersistedTokenCache(FilePersistence(path))
    cache.add(token_event("s1"))
    plain = msal.SerializableTokenCache()
    with open(path) as f:
        plain.deserialize(f.read())
    assert len(list(plain.search(AT, target=["s1"]))) == 1
    assert json.loads(cache.serialize()) == json.loads(open(path).read()), "serialize() keeps MSAL's format"


def test_unreadable_cache_is_quarantined_and_the_cache_goes_on(tmp_path, caplog):
    path = str(tmp_path / "cache.json")
    with open(path, "w") as f:
        f.write('{"AccessToken": {')  # truncated, as the reference leaves a file it was killed writing
    cache = PersistedTokenCache(FilePersistence(path))
    assert list(cache.search(AT, target=["s1"])) == []
    copies = [n for n in os.listdir(str(tmp_path)) if ".corrupt-" in n]
    assert len(copies) == 1 and open(str(tmp_path / copies[0])).read() == '{"AccessToken": {'
    assert "kept a copy" in caplog.text and '{"AccessToken": {' not in caplog.text, "content is never logged"
    cache.add(token_event("s1"))
    assert scopes_in(path) == ["s1"]


def corrupt_copies(folder):
    return sorted(n for n in os.listdir(str(folder)) if ".corrupt-" in n)


def content_tag(content):
    """How the core names a copy: the first 16 hex digits of the content's SHA-256."""
    return hashlib.sha256(content).hexdigest()[:16]


SEARCH_ONCE = """
import sys
import msal
from msal_extensions import FilePersistence, PersistedTokenCache
cache = PersistedTokenCache(FilePersistence(sys.argv[1]))
print(len(list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN))))
"""


def test_processes_meeting_one_corrupt_file_leave_one_copy(tmp_path):
    """The copy is named by the content's hash: two processes (and a third
    instance here) reading the same corrupt file keep it once, not once each."""
    path = str(tmp_path / "cache.json")
    bad = b'{"AccessToken": {"k": '
    with open(path, "wb") as f:
        f.write(bad)
    env = dict(os.environ, MSAL_EXTENSIONS_RS="on")
    children = [subprocess.Popen([sys.executable, "-c", SEARCH_ONCE, path], stdout=subprocess.PIPE,
                                 text=True, env=env, stdin=subprocess.DEVNULL) for _ in range(2)]
    outs = [c.communicate(timeout=60)[0].strip() for c in children]
    assert [c.returncode for c in children] == [0, 0] and outs == ["0", "0"]
    assert list(PersistedTokenCache(FilePersistence(path)).search(AT)) == []
    copies = corrupt_copies(tmp_path)
    assert copies == ["cache.json.corrupt-" + content_tag(bad)], copies
    assert open(str(tmp_path / copies[0]), "rb").read() == bad
    assert stat.S_IMODE(os.stat(str(tmp_path / copies[0])).st_mode) == 0o600
    with open(path, "rb") as f:
        assert f.read() == bad, "reading repairs nothing: the next write does"


def test_a_complete_cache_followed_by_junk_keeps_the_cache_and_writes_it_back(tmp_path, caplog):
    """As the core recovers what msal-node can leave: the leading cache is
    kept, the whole original is copied aside, and the next write round saves
    the repaired cache even though it changes nothing."""
    path = str(tmp_path / "cache.json")
    PersistedTokenCache(FilePersistence(path)).add(token_event("s1"))
    with open(path, "rb") as f:
        good = f.read()
    with open(path, "ab") as f:
        f.write(b'ken": {}}')  # the tail of a longer save
    cache = PersistedTokenCache(FilePersistence(path))
    assert [e["target"] for e in cache.search(AT)] == ["s1"]
    assert "followed by 9 bytes of other data" in caplog.text
    assert corrupt_copies(tmp_path) == ["cache.json.corrupt-" + content_tag(good + b'ken": {}}')]
    cache.modify(msal.TokenCache.CredentialType.ID_TOKEN, {"home_account_id": "nobody"})  # changes nothing
    assert scopes_in(path) == ["s1"], "the repaired cache was saved without the junk"
    inode = os.stat(path).st_ino
    cache.modify(msal.TokenCache.CredentialType.ID_TOKEN, {"home_account_id": "nobody"})
    assert os.stat(path).st_ino == inode, "repaired once: no more saves without a change"


def test_a_cache_that_is_not_utf8_is_kept_and_the_cache_goes_on(tmp_path):
    """The core reads non-UTF-8 content as corrupt (ValueError): it is
    quarantined like any other, not raised from every search and add."""
    path = str(tmp_path / "cache.json")
    with open(path, "wb") as f:
        f.write(b"\xff")
    cache = PersistedTokenCache(FilePersistence(path))
    assert list(cache.search(AT)) == []
    assert list(cache.search(AT)) == [], "and again, from memory"
    assert corrupt_copies(tmp_path) == ["cache.json.corrupt-" + content_tag(b"\xff")]
    assert open(str(tmp_path / corrupt_copies(tmp_path)[0]), "rb").read() == b"\xff"
    cache.add(token_event("s1"))
    assert scopes_in(path) == ["s1"]


def test_a_complete_cache_followed_by_bytes_that_are_not_utf8_is_recovered(tmp_path):
    path = str(tmp_path / "cache.json")
    PersistedTokenCache(FilePersistence(path)).add(token_event("s1"))
    with open(path, "ab") as f:
        f.write(b"\xff\xfe")
    cache = PersistedTokenCache(FilePersistence(path))
    assert [e["target"] for e in cache.search(AT)] == ["s1"]
    assert len(corrupt_copies(tmp_path)) == 1
    cache.add(token_event("s2"))
    assert scopes_in(path) == ["s1", "s2"]


def test_a_python_persistence_keeps_one_plaintext_copy_per_content(tmp_path):
    location = str(tmp_path / "memory")

    class Memory(BasePersistence):
        def __init__(self, data, encrypted=False):
            self.data, self.is_encrypted = data, encrypted

        def save(self, content):
            self.data = content

        def load(self):
            return self.data

        def time_last_modified(self):
            return len(self.data)

        def get_location(self):
            return location

    for _ in range(3):
        assert list(PersistedTokenCache(Memory("not json")).search(AT)) == []
    assert corrupt_copies(tmp_path) == ["memory.corrupt-" + content_tag(b"not json")]
    assert list(PersistedTokenCache(Memory("not json either")).search(AT)) == []
    assert len(corrupt_copies(tmp_path)) == 2
    secret = Memory("an encrypted store's bytes", encrypted=True)
    assert list(PersistedTokenCache(secret).search(AT)) == []
    assert len(corrupt_copies(tmp_path)) == 2, "never a plaintext copy of an encrypted store"


def test_a_subclass_overriding_save_is_honoured(tmp_path):
    calls = []

    class Logged(FilePersistence):
        def save(self, content):
            calls.append(len(content))
            super(Logged, self).save(content)

    cache = PersistedTokenCache(Logged(str(tmp_path / "cache.json")))
    cache.add(token_event("s1"))
    assert len(calls) == 1
    assert len(list(PersistedTokenCache(FilePersistence(str(tmp_path / "cache.json"))).search(
        AT, target=["s1"]))) == 1


def test_a_persistence_written_in_python_works(tmp_path):
    class Memory(BasePersistence):
        def __init__(self):
            self.data, self.mtime = None, None

        def save(self, content):
            self.data, self.mtime = content, (self.mtime or 0) + 1

        def load(self):
            if self.data is None:
                raise PersistenceNotFound()
            return self.data

        def time_last_modified(self):
            if self.mtime is None:
                raise PersistenceNotFound()
            return self.mtime

        def get_location(self):
            return str(tmp_path / "memory")

    m = Memory()
    a, b = PersistedTokenCache(m), PersistedTokenCache(m)
    a.add(token_event("s1"))
    b.add(token_event("s2"))
    assert len(list(a.search(AT, target=["s2"]))) == 1


def test_threads_of_one_process_lose_nothing(tmp_path):
    path = str(tmp_path / "cache.json")
    caches = [PersistedTokenCache(FilePersistence(path)) for _ in range(2)]

    def work(t):
        for i in range(15):
            caches[t % 2].add(token_event("t%d-%d" % (t, i)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(scopes_in(path)) == 90


def test_msal_apps_share_tokens_through_the_cache(tmp_path):
    path = str(tmp_path / "cache.json")
    idp = FakeIdentityProvider(access_token="app-token")
    apps = [msal.ConfidentialClientApplication(
        "client", client_credential="secret", authority=AUTHORITY, http_client=idp,
        token_cache=PersistedTokenCache(FilePersistence(path))) for _ in range(2)]
    first = apps[0].acquire_token_for_client(["https://graph.microsoft.com/.default"])
    second = apps[1].acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert (first["token_source"], second["token_source"]) == ("identity_provider", "cache")
    assert second["access_token"] == "app-token" and idp.posts == 1


def test_expired_tokens_are_removed_by_search_as_msal_does(tmp_path):
    path = str(tmp_path / "cache.json")
    cache = PersistedTokenCache(FilePersistence(path))
    cache.add(token_event("old"), now=time.time() - 7200)
    cache.add(token_event("new"))
    assert [e["target"] for e in cache.search(AT)] == ["new"]
    assert scopes_in(path) == ["new"], "the removal was saved"


# ------------------------------------------------------------------ LibsecretPersistence
def test_libsecret_needs_no_pygobject(secret_service, tmp_path):
    with pytest.raises(ImportError):
        import gi  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    p = LibsecretPersistence(str(tmp_path / "signal"), "msalx-test-%d" % os.getpid(),
                             {"MsalClientID": "test"}, label="MSALCache")
    with pytest.raises(PersistenceNotFound):
        p.load()
    with pytest.raises(PersistenceNotFound):
        p.time_last_modified()
    p.save('{"AccessToken": {}}')
    assert p.load() == '{"AccessToken": {}}' and p.is_encrypted
    assert os.path.exists(str(tmp_path / "signal")), "save() touches the signal file"
    assert isinstance(build_encrypted_persistence(str(tmp_path / "other")), LibsecretPersistence)
    from msal_extensions.libsecret import trial_run
    trial_run()


def test_a_corrupt_secret_service_item_is_kept_inside_the_keyring(secret_service, tmp_path, caplog):
    """The core's copy for an encrypted store: a sibling item in the same
    collection, never a plaintext file; the next save does not lose it."""
    schema = "msalx-corrupt-%d" % os.getpid()
    bad = '{"AccessToken": {"k": '
    p = LibsecretPersistence(str(tmp_path / "signal"), schema, {"MsalClientID": "test"})
    p.save(bad)
    cache = PersistedTokenCache(p)
    assert list(cache.search(AT)) == []
    assert "kept a copy at Secret Service item" in caplog.text and bad not in caplog.text
    copy = LibsecretPersistence(
        str(tmp_path / "copy-signal"), "io.github.msal-extensions-rs.Copy",
        {"msal-extensions-copy-of": schema, "msal-extensions-copy": "corrupt-" + content_tag(bad.encode())})
    assert copy.load() == bad
    cache.add(token_event("s1"))
    assert [e["target"] for e in json.loads(p.load())["AccessToken"].values()] == ["s1"]
    assert copy.load() == bad, "the copy outlives the save that replaced the content"
    assert corrupt_copies(tmp_path) == [], "no plaintext copy"


def test_libsecret_without_a_secret_service_fails_like_the_reference(tmp_path):
    out = run_py("""
        import json, sys
        from msal_extensions import LibsecretPersistence
        try:
            LibsecretPersistence(%r)
        except RuntimeError as e:
            print(json.dumps(["RuntimeError", "libsecret did not perform properly" in str(e)]))
        """ % str(tmp_path / "signal"), env={"DBUS_SESSION_BUS_ADDRESS": "unix:path=%s" % (tmp_path / "nobus")})
    assert out == ["RuntimeError", True]


def child_of_fork(p, q):
    try:
        p.load()
        q.put("loaded")
    except PersistenceError as e:
        q.put(("PersistenceError", "spawn" in str(e), p.time_last_modified() > 0 and p.is_encrypted))
    try:
        LibsecretPersistence(p.get_location() + "-new")
        q.put("built")
    except RuntimeError as e:
        q.put(("RuntimeError", "forked" in str(e)))


def test_secret_service_in_a_forked_child_fails_fast_instead_of_hanging(secret_service, tmp_path):
    """The D-Bus reactor thread is not copied by fork(): a child of a process
    that used the Secret Service says so at once (GDBus, which the reference
    uses, does not work in such a child either). A fresh process is fine."""
    import multiprocessing
    p = LibsecretPersistence(str(tmp_path / "signal"), "msalx-fork-%d" % os.getpid(), {"k": "v"})
    p.save("from parent")
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=child_of_fork, args=(p, q))
    child.start()
    assert q.get(timeout=30) == ("PersistenceError", True, True)
    assert q.get(timeout=30) == ("RuntimeError", True)
    child.join(30)
    assert child.exitcode == 0
    assert p.load() == "from parent", "the parent's connection is untouched"
    out = run_py("""
        import json
        from msal_extensions import LibsecretPersistence
        print(json.dumps([LibsecretPersistence(%r, "msalx-fork-%d", {"k": "v"}).load()]))
        """ % (str(tmp_path / "signal"), os.getpid()))
    assert out == ["from parent"]
