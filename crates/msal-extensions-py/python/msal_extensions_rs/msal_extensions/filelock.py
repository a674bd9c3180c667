"""A cross-process lock on ``<cache>.lockfile``, the Rust core's.

Held, it is both things MSAL's libraries take for "locked": the lockfile
exists (what msal-extensions without portalocker and MSAL Node check) and it
is ``flock``ed (what msal-extensions with portalocker, MSAL .NET and Go
check). A lockfile left by a crashed process is taken over at once, a waiter
polls every 0.2 to 2 ms (the reference: every 250 ms), and ``LockError``
comes after ``timeout`` seconds instead of the reference's going ahead
without the lock.
"""
import os

from . import _core

#: Environment variable: the default wait, in seconds, of every lock of this
#: package (CrossPlatLock and PersistedTokenCache), for programs that cannot
#: pass ``timeout``, e.g. many parallel `az` runs on a slow machine.
TIMEOUT_ENV = "MSAL_EXTENSIONS_RS_LOCK_TIMEOUT"


def _default_timeout():
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return _core.DEFAULT_LOCK_TIMEOUT  # this package's 10 s (the core's LockOptions default is 30 s)
    try:
        return float(value)
    except ValueError:
        raise ValueError("%s must be a number of seconds, not %r" % (TIMEOUT_ENV, value))


class LockError(RuntimeError):
    """It will be raised when unable to obtain a lock"""


class CrossPlatLock(object):
    """Offers a mechanism for waiting until another process is finished interacting with a shared
    resource. This is specifically written to interact with a class of the same name in the .NET
    extensions library.

    :param lockfile_path: the lockfile, conventionally ``<cache file>.lockfile``.
    :param timeout: seconds to wait before raising :class:`LockError`
        (default: ``MSAL_EXTENSIONS_RS_LOCK_TIMEOUT``, else 10, the longest
        the reference waits).
    """

    def __init__(self, lockfile_path, timeout=None):
        self._lockpath = lockfile_path
        self._native = _core.Lock(lockfile_path, _default_timeout() if timeout is None else timeout)

    def __enter__(self):
        self._native.acquire()  # waits without the GIL
        return self

    def __exit__(self, *args):
        self._native.release()  # deletes the lockfile while still holding it
