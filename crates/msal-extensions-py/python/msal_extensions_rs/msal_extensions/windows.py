"""Not provided by msal-extensions-rs.

The reference's ``windows`` module is its ctypes binding to DPAPI
(``WindowsDataProtectionAgent``). Here the Rust core does that work behind
:class:`msal_extensions.FilePersistenceWithDataProtection`, whose files are
encrypted exactly as the reference's (CurrentUser scope, description
``python_data``, the same optional entropy).
"""
raise ImportError(
    "msal_extensions.windows (the reference's low-level DPAPI binding) is not part of "
    "msal-extensions-rs; use msal_extensions.FilePersistenceWithDataProtection")
