"""Not provided by msal-extensions-rs.

The reference's ``osx`` module is its ctypes binding to the legacy Keychain
API (``Keychain``, ``KeychainError``). Here the Rust core does that work
behind :class:`msal_extensions.KeychainPersistence`, whose failures are
``PersistenceError`` (an ``OSError``, like ``KeychainError``).
"""
raise ImportError(
    "msal_extensions.osx (the reference's low-level Keychain binding) is not part of "
    "msal-extensions-rs; use msal_extensions.KeychainPersistence")
