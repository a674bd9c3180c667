"""Provides auxiliary functionality to the `msal` package.

This is msal-extensions-rs: the public API of Microsoft's msal-extensions
1.3.1 (same names, signatures and exceptions) on a Rust core. Saves are
atomic, the cross-process lock is exclusive against every MSAL peer, a
crashed holder's lockfile is taken over at once, and a cache reloads when
its content changed (by equality of a file fingerprint, never by comparing
a modification time with the clock).
"""
__version__ = "1.3.1"  # the msal-extensions API this package provides

from . import _core
from .persistence import (
    FilePersistence,
    build_encrypted_persistence,
    FilePersistenceWithDataProtection,
    KeychainPersistence,
    LibsecretPersistence,
    )
from .filelock import CrossPlatLock, LockError

#: The Rust core's version (the ``msal-extensions-py`` crate).
__core_version__ = _core.CORE_VERSION

__all__ = [
    "FilePersistence", "build_encrypted_persistence", "FilePersistenceWithDataProtection",
    "KeychainPersistence", "LibsecretPersistence", "PersistedTokenCache", "CrossPlatLock",
    "LockError",
]


def __getattr__(name):
    # PersistedTokenCache subclasses msal.SerializableTokenCache; `import msal`
    # costs most of the start-up, so it is paid by the programs that use the
    # token cache, when they first touch it, not by every `import msal_extensions`.
    if name == "PersistedTokenCache":
        from .token_cache import PersistedTokenCache
        return PersistedTokenCache
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
