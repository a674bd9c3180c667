"""Generic functions and types for working with a TokenCache that is not platform specific."""
import contextlib
import hashlib
import json
import logging
import os
import time

import msal

from . import _core
from .filelock import CrossPlatLock, LockError, _default_timeout  # noqa: F401  (re-exported, as in the reference)
from .persistence import _mkdir_p, _NativeBacked, PersistenceNotFound


logger = logging.getLogger(__name__)

# How long a reader waits before reading again content that did not parse:
# long enough for a peer that writes in place (the reference truncates, then
# writes) to finish a large cache.
_CORRUPT_RETRY_DELAY = 0.02
# The sections MSAL reads as {key: entry} objects.
_SECTIONS = ("AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata")
_UNSEEN = object()  # "nothing loaded yet": equal to no change token
_MISSING = object()
_DECODER = json.JSONDecoder()


class _ForeignStore(object):
    """A persistence written in Python by the application: its
    ``time_last_modified()`` is the change token (compared for equality,
    never against the clock)."""

    def __init__(self, persistence):
        self._persistence = persistence

    def token(self):
        try:
            return self._persistence.time_last_modified()
        except PersistenceNotFound:
            return None

    def load(self):
        try:
            return self._persistence.load()
        except PersistenceNotFound:
            return None

    def save(self, content):
        self._persistence.save(content)

    def load_bytes(self):
        """The content as UTF-8 (a Python persistence deals in text)."""
        content = self.load()
        return None if content is None else content.encode("utf-8")

    def keep_copy(self, content):
        """A copy of ``content`` (bytes) beside the location, as the core keeps
        one for a persistence of yours: a file if it is not encrypted, else
        none (never a plaintext copy of what an encrypted store held)."""
        if content is None or getattr(self._persistence, "is_encrypted", False):
            return None
        return _copy_beside(self._persistence.get_location(), content)


class _NativeStore(object):
    """One of this package's persistences, called natively: the Rust change
    token (modification time in nanoseconds, size and file identity: one
    ``stat``), load and save. ``persistence._native`` is looked up at every
    call, never kept: in a forked child it is swapped for a stand-in."""

    __slots__ = ("_persistence",)

    def __init__(self, persistence):
        self._persistence = persistence

    def token(self):
        return self._persistence._native.change_token()  # pylint: disable=protected-access

    def load(self):
        return self._persistence._native.load_optional()  # pylint: disable=protected-access

    def save(self, content):
        self._persistence._native.save(content)  # pylint: disable=protected-access

    def load_bytes(self):
        return self._persistence._native.load_bytes_optional()  # pylint: disable=protected-access

    def keep_copy(self, content):  # pylint: disable=unused-argument
        """The core's copy of what is stored (``content`` is what was read of
        it): in the store's own form, once per distinct content."""
        return self._persistence._native.keep_copy()  # pylint: disable=protected-access


_NATIVE_METHODS = ("save", "load", "time_last_modified")


def _store_for(persistence):
    """The native store when ``persistence`` is one of ours with its
    ``save``/``load``/``time_last_modified`` not overridden by a subclass,
    else the foreign one (which calls the persistence's own methods)."""
    cls = type(persistence)
    if isinstance(persistence, _NativeBacked) and all(
            getattr(cls, m) is getattr(_NativeBacked, m) for m in _NATIVE_METHODS):
        return _NativeStore(persistence)
    return _ForeignStore(persistence)


def _parse(text):
    """The cache in ``text``; ``ValueError`` (``json.JSONDecodeError`` is one)
    when it is not an MSAL cache. Messages never quote the content."""
    if not text:  # absent or empty: an empty cache, as in MSAL's deserialize()
        return {}
    return _checked(json.loads(text))


def _checked(state):
    if not isinstance(state, dict) or not all(isinstance(state.get(s, {}), dict) for s in _SECTIONS):
        raise ValueError("not an MSAL token cache (its top level and sections must be JSON objects)")
    return state


def _leading_document(content):
    """``(cache, end)`` when ``content`` (bytes) is a complete cache followed by
    other data, as msal-node can leave a file (``end``: where the cache ends,
    in bytes), else ``(None, 0)``. The core's recovery: junk that is not even
    UTF-8 counts as other data."""
    if not content:
        return None, 0
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = content[:exc.start].decode("utf-8")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        state, end = _DECODER.raw_decode(text, start)
        return _checked(state), len(text[:end].encode("utf-8"))
    except ValueError:
        return None, 0


def _copy_beside(location, content):
    """Keeps ``content`` (bytes) in ``<location>.corrupt-<hash>`` (``0600``),
    named as the core names its copies (the first 16 hex digits of the
    SHA-256 of the content), so the same content is kept once; a name that
    holds other bytes (a copy cut short) gets a suffix."""
    base = "%s.corrupt-%s" % (location, hashlib.sha256(content).hexdigest()[:16])
    for n in range(16):
        path = base if n == 0 else "%s-%d" % (base, n)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if _holds(path, content):
                return path
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        return path
    raise FileExistsError("no free name for a recoverable copy beside %s" % location)


def _holds(path, content):
    """Whether the regular file at ``path`` holds exactly ``content``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return f.read(len(content) + 1) == content


class PersistedTokenCache(msal.SerializableTokenCache):
    """A token cache backed by a persistence layer, coordinated by a file lock,
    to sustain a certain level of multi-process concurrency for a desktop app.

    The scenario is that multiple instances of same desktop app
    (or even multiple different apps)
    create their own ``PersistedTokenCache`` instances,
    which are all backed by the same token cache file on disk
    (known as a persistence). The goal is to have Single Sign On (SSO).

    Each instance of ``PersistedTokenCache`` holds a snapshot of the token cache
    in memory.
    Each :func:`~find` call will
    automatically reload token cache from the persistence when necessary,
    so that it will have fresh data.
    Each :func:`~modify` call will
    automatically reload token cache from the persistence when necessary,
    so that new writes will be appended on top of latest token cache data,
    and then the new data will be immediately flushed back to the persistence.

    Note: :func:`~deserialize` and :func:`~serialize` remain the same
    as their counterparts in the parent class ``msal.SerializableTokenCache``.
    In other words, they do not have the "reload from persistence if necessary"
    nor the "flush back to persistence" behavior.

    What msal-extensions-rs does differently, and why nothing is lost:

    - "When necessary" means the persistence's change token (modification
      time in nanoseconds, size, file identity) differs from the one of the
      content in memory. The reference compares the file's modification time
      with the time of its own last reload, so a write that lands in the same
      clock tick, or between its read and its clock reading, is never seen,
      and its next save erases it.
    - :func:`~modify` takes the cross-process lock, reloads if the token
      changed, applies the change, and saves only if the cache changed;
      :func:`~add` does all the entries of one token response in one such
      round (the reference takes 3 to 5, and others can write in between).
    - Saves are atomic and compact JSON (``serialize()`` still returns MSAL's
      indented form). Content that does not parse is read again, then under
      the lock; if it is still bad, the store keeps a recoverable copy in its
      own form (``<file>.corrupt-<hash>`` beside a plaintext or DPAPI file, a
      sibling item in the Keychain or Secret Service; once per distinct
      content), a warning is logged, and the cache goes on empty (or, for a
      complete cache followed by junk, with that cache) instead of failing
      every call; the next write round saves it even if it changes nothing.
    """

    def __init__(self, persistence, lock_location=None):
        super(PersistedTokenCache, self).__init__()
        self._lock_location = (
            os.path.expanduser(lock_location) if lock_location
            else persistence.get_location() + ".lockfile")
        _mkdir_p(os.path.dirname(self._lock_location))
        self._persistence = persistence
        self._last_sync = 0  # when the memory was last loaded or saved: informative only
        self.is_encrypted = persistence.is_encrypted
        self._store = _store_for(persistence)
        self._xlock = _core.Lock(self._lock_location, _default_timeout())
        self._seen = _UNSEEN  # the change token of what is in memory
        self._depth = 0  # nesting of write rounds on the thread holding self._lock
        self._changed = False
        self._repaired = False  # memory was made of corrupt content: the next write round saves

    # ---------------------------------------------------------------- reading
    def _adopt(self, state, token):
        self._cache = state
        self._seen = token
        self._last_sync = time.time()
        self.has_state_changed = False
        self._repaired = False

    def _reload_if_necessary(self, locked=False):
        """Reloads when the stored content is not the one in memory."""
        if self._store.token() == self._seen:
            return  # the common case: one stat, no lock
        with self._lock:
            if self._depth and not locked:
                return  # inside this thread's own write round: memory is current
            token = self._store.token()  # again: another thread may have reloaded meanwhile
            if token == self._seen:
                return
            for attempt in range(1 if locked else 2):
                if attempt:
                    time.sleep(_CORRUPT_RETRY_DELAY)
                    token = self._store.token()
                try:
                    # The token is taken first: never newer than the content.
                    self._adopt(_parse(self._store.load()), token)
                    return
                except ValueError as exc:  # not UTF-8 (the core's Corrupt), not JSON, not a cache
                    error = exc
            if locked:
                self._adopt_corrupt(token, error)
                return
            # Unreadable twice: perhaps a peer writing in place. Under the lock
            # nobody writes, so what is read then is what is really there.
            self._xlock.acquire()
            try:
                self._reload_if_necessary(locked=True)
            finally:
                self._xlock.release()

    def _adopt_corrupt(self, token, error):
        """Content still unreadable under the lock, as the core's
        ``PersistedTokenCache`` treats it: keep a recoverable copy, go on with
        the leading cache (a complete cache followed by junk) or an empty one,
        and save it at the next write round even if nothing else changes."""
        location = self._persistence.get_location()
        try:
            content = self._store.load_bytes()
        except ValueError:  # a Python persistence that cannot read it as text
            content = None
        copy = self._store.keep_copy(content)
        kept = ("kept a copy at %s" % copy) if copy else (
            "kept no copy (this store offers no place for one as protected as itself)")
        state, end = _leading_document(content)
        if state is not None:
            logger.warning(
                "%s: a complete token cache followed by %d bytes of other data; %s, and continuing "
                "with the leading cache (the next write round saves it without the rest)",
                location, len(content) - end, kept)
        else:
            logger.warning(
                "%s: the token cache is unreadable (%s); %s, and continuing with an empty cache "
                "(the next write round replaces it)", location, error, kept)
            state = {}
        self._adopt(state, token)
        self._repaired = True

    def search(self, credential_type, *args, **kwargs):  # pylint: disable=arguments-differ
        self._reload_if_necessary()
        return super(PersistedTokenCache, self).search(credential_type, *args, **kwargs)

    # ---------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _write_round(self):
        """Lock, reload if changed, run the body, save if it changed anything,
        unlock. Nested rounds (``modify`` inside ``add``) join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._xlock.acquire()  # waits without the GIL
            self._depth = 1
            done = False
            try:
                self._reload_if_necessary(locked=True)
                self._changed = False
                yield
                if self._changed or self._repaired:
                    self._save()
                done = True
            finally:
                self._depth = 0
                if not done:
                    self._seen = _UNSEEN  # memory may hold a change that was not saved
                self._xlock.release()

    def _save(self):
        self._store.save(json.dumps(self._cache, separators=(",", ":")))
        self._seen = self._store.token()
        self._last_sync = time.time()
        self.has_state_changed = False
        self._repaired = False

    def modify(self, credential_type, old_entry, new_key_value_pairs=None):
        with self._write_round():
            key = self.key_makers[credential_type](**old_entry)
            before = self._cache.get(credential_type, {}).get(key, _MISSING)
            super(PersistedTokenCache, self).modify(
                credential_type,
                old_entry,
                new_key_value_pairs=new_key_value_pairs)
            after = self._cache.get(credential_type, {}).get(key, _MISSING)
            if after is not before and after != before:
                self._changed = True

    def add(self, event, **kwargs):  # pylint: disable=arguments-differ
        with self._write_round():  # one lock round for every entry of the response
            super(PersistedTokenCache, self).add(event, **kwargs)
