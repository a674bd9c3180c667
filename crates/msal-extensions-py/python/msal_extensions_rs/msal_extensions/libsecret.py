"""Linux Secret Service support, without PyGObject or libsecret.

The reference's module of this name needs PyGObject (``gi``) and libsecret;
here the Rust core speaks the Secret Service D-Bus protocol itself and writes
the same item libsecret's password API writes (attributes plus
``xdg:schema``, the secret as UTF-8 text). What it offers is
:func:`trial_run`; the low-level ``LibSecretAgent`` is not provided (use
:class:`msal_extensions.LibsecretPersistence`).
"""
import os

from .persistence import PersistenceError, _connect_secret_service

_TRIAL_FAILED = """libsecret did not perform properly.
* If you encountered error "Remote error from secret service:
  org.freedesktop.DBus.Error.ServiceUnknown",
  you may need to install gnome-keyring package.
* Headless mode (such as in an ssh session) is not supported.
(msal-extensions-rs: no Secret Service answered on the session bus, or its
default collection is locked. Headless, start one, e.g.
`dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock; ...'`.)
Cause: {}
"""


def _verify(native):
    """Stores, reads back and deletes a probe item in the persistence's
    collection; ``RuntimeError`` (like the reference's) when that fails."""
    try:
        native.verify()
    except PersistenceError as exc:
        raise RuntimeError(_TRIAL_FAILED.format(exc)) from exc


def trial_run():
    """This trial run will raise an exception if libsecret is not functioning.

    Even after you installed all the dependencies so that your script can start,
    or even if your previous run was successful, your script could fail next time,
    for example when it will be running inside a headless SSH session.
    """
    # The probe never touches the signal file, so any path does.
    _verify(_connect_secret_service(os.devnull, "Test Schema", {"attr1": "foo", "attr2": "bar"}))
