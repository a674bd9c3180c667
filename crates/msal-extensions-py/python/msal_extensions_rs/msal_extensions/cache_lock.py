"""Provides a mechanism for not competing with other processes interacting with an MSAL cache.

In the reference this is the portalocker-based lock; here there is one lock,
the Rust core's, which honours both the lockfile's existence and its
``flock`` (see :mod:`msal_extensions.filelock`), so both names are the same.
"""
from .filelock import CrossPlatLock, LockError  # noqa: F401
