"""A generic persistence layer, optionally encrypted on Windows, OSX, and Linux.

Should a certain encryption is unavailable, exception will be raised at run-time,
rather than at import time.

By successfully creating and using a certain persistence object,
app developer would naturally know whether the data are protected by encryption.

Every class here keeps the reference's name, constructor and methods, and
hands the work to a Rust persistence (``self._native``):

- ``FilePersistence.save`` writes a temporary file beside the cache and
  renames it over, so no reader or crash ever sees a half-written cache
  (the reference truncates the file, then writes it);
- ``LibsecretPersistence`` talks to the Secret Service over D-Bus itself:
  no PyGObject, no libsecret; it writes the very item libsecret writes.
"""
import abc
import errno
import hashlib
import logging
import os
import sys
import weakref
from pathlib import Path

from . import _core
from .filelock import LockError


logger = logging.getLogger(__name__)


def _mkdir_p(path):
    """Creates a directory, and any necessary parents (the last one ``0700``).

    If the path provided is an existing file, this function raises an exception.
    :param path: The directory name that should be created.
    """
    if path:
        os.makedirs(path, mode=0o700, exist_ok=True)


def _auto_hash(input_string):
    return hashlib.sha256(input_string.encode('utf-8')).hexdigest()


# We do not aim to wrap every os-specific exception.
# Here we standardize only the most common ones,
# otherwise caller would need to catch os-specific underlying exceptions.
class PersistenceError(IOError):  # Use IOError rather than OSError as base,
    """The base exception for persistence."""
        # because historically an IOError was bubbled up and expected.
    def __init__(self, err_no=None, message=None, location=None):  # pylint: disable=useless-super-delegation
        super(PersistenceError, self).__init__(err_no, message, location)


class PersistenceNotFound(PersistenceError):
    """This happens when attempting BasePersistence.load() on a non-existent persistence instance"""
    def __init__(self, err_no=None, message=None, location=None):
        super(PersistenceNotFound, self).__init__(
            err_no=errno.ENOENT,
            message=message or "Persistence not found",
            location=location)


class PersistenceEncryptionError(PersistenceError):
    """This could be raised by persistence.save()"""


class PersistenceDecryptionError(PersistenceError):
    """This could be raised by persistence.load()"""


# The Rust core raises these classes (and LockError) from now on.
_core.register_errors(
    PersistenceError, PersistenceNotFound, PersistenceEncryptionError,
    PersistenceDecryptionError, LockError)


def build_encrypted_persistence(location):
    """Build a suitable encrypted persistence instance based your current OS.

    If you do not need encryption, then simply use ``FilePersistence`` constructor.
    """
    if sys.platform.startswith('win'):
        return FilePersistenceWithDataProtection(location)
    if sys.platform.startswith('darwin'):
        return KeychainPersistence(location)
    if sys.platform.startswith('linux'):
        return LibsecretPersistence(location)
    raise RuntimeError("Unsupported platform: {}".format(sys.platform))  # pylint: disable=consider-using-f-string


class BasePersistence(abc.ABC):
    """An abstract persistence defining the common interface of this family"""

    is_encrypted = False  # Default to False. To be overridden by sub-classes.

    @abc.abstractmethod
    def save(self, content):
        # type: (str) -> None
        """Save the content into this persistence"""
        raise NotImplementedError

    @abc.abstractmethod
    def load(self):
        # type: () -> str
        """Load content from this persistence.

        Could raise PersistenceNotFound if no save() was called before.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def time_last_modified(self):
        """Get the last time when this persistence has been modified.

        Could raise PersistenceNotFound if no save() was called before.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def get_location(self):
        """Return the file path which this persistence stores (meta)data into"""
        raise NotImplementedError


class _NativeBacked(BasePersistence):
    """What the four concrete classes share: ``save``, ``load`` and
    ``time_last_modified`` go straight to the Rust persistence."""

    _native = None  # set by each constructor

    @property
    def is_encrypted(self):
        """Whether the content is encrypted at rest: the Rust backend's answer."""
        return self._native.is_encrypted

    def save(self, content):
        # type: (str) -> None
        """Save the content into this persistence"""
        self._native.save(content)

    def load(self):
        # type: () -> str
        """Load content from this persistence"""
        return self._native.load()

    def time_last_modified(self):
        return self._native.time_last_modified()


class FilePersistence(_NativeBacked):
    """A generic persistence, storing data in a plain-text file"""

    def __init__(self, location):
        if not location:
            raise ValueError("Requires a file path")
        self._location = os.path.expanduser(location)
        _mkdir_p(os.path.dirname(self._location))
        self._native = _core.Persistence.file(self._location)

    def touch(self):
        """To touch this file-based persistence without writing content into it"""
        self._native.touch()  # For time_last_modified() to work

    def get_location(self):
        return self._location


class FilePersistenceWithDataProtection(FilePersistence):
    """A generic persistence with data stored in a file,
    protected by Win32 encryption APIs on Windows"""

    def __init__(self, location, entropy=''):  # pylint: disable=super-init-not-called
        """Initialization could fail due to unsatisfied dependency"""
        if not location:
            raise ValueError("Requires a file path")
        self._location = os.path.expanduser(location)
        self._native = _core.Persistence.dpapi(self._location, entropy or "")
        _mkdir_p(os.path.dirname(self._location))

    def touch(self):
        """To touch this file-based persistence without writing content into it"""
        Path(self._location).touch()


class KeychainPersistence(_NativeBacked):
    """A generic persistence with data stored in,
    and protected by native Keychain libraries on OSX"""

    def __init__(self, signal_location, service_name=None, account_name=None):
        """Initialization could fail due to unsatisfied dependency.

        :param signal_location: See :func:`persistence.LibsecretPersistence.__init__`
        """
        default_service_name = "msal-extensions"  # This is also our package name
        self._service_name = service_name or default_service_name
        self._account_name = account_name or _auto_hash(signal_location)
        self._native = _core.Persistence.keychain(
            os.path.expanduser(signal_location), self._service_name, self._account_name)
        self._file_persistence = FilePersistence(signal_location)  # Favor composition

    def get_location(self):
        return self._file_persistence.get_location()


# The Secret Service is reached over D-Bus through an I/O reactor thread that
# holds its lock while it waits; a forked child has the lock but not the
# thread, so any D-Bus call there would hang for good. A child of a process
# that used it gets a clear error instead (the reference's GDBus has the same
# limit). Use multiprocessing's "spawn" or "forkserver" start methods.
_DBUS = {"used": False, "forked": False}
_SECRET_SERVICE_PERSISTENCES = weakref.WeakSet()
_ABANDONED_IN_CHILD = []  # never dropped: tearing them down could wait for the missing thread
_FORKED_MESSAGE = (
    "this process was forked from one that had used the Secret Service, whose D-Bus "
    "connection cannot work in a forked child; create the LibsecretPersistence in a "
    "process started with multiprocessing's 'spawn' or 'forkserver' method")


class _ForkedSecretService(object):
    """Stands in for a Secret Service persistence's native half in a forked
    child: the signal file still answers, the store refuses."""

    def __init__(self, native):
        self._native = native
        self.location = native.location
        self.is_encrypted = native.is_encrypted

    def change_token(self):
        return self._native.change_token()

    def time_last_modified(self):
        return self._native.time_last_modified()

    def _refuse(self, *args):
        raise PersistenceError(message=_FORKED_MESSAGE, location=self.location)

    save = load = load_optional = load_bytes_optional = keep_copy = verify = _refuse


def _after_fork_in_child():
    if not _DBUS["used"]:
        return
    _DBUS["forked"] = True
    for persistence in list(_SECRET_SERVICE_PERSISTENCES):
        _ABANDONED_IN_CHILD.append(persistence._native)  # pylint: disable=protected-access
        persistence._native = _ForkedSecretService(persistence._native)  # pylint: disable=protected-access


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _connect_secret_service(*args):
    """A native Secret Service persistence (``RuntimeError`` in a forked child)."""
    if _DBUS["forked"]:
        raise RuntimeError("libsecret did not perform properly: " + _FORKED_MESSAGE)
    _DBUS["used"] = True
    return _core.Persistence.secret_service(*args)


class LibsecretPersistence(_NativeBacked):
    """A generic persistence with data stored in,
    and protected by native libsecret libraries on Linux"""

    def __init__(self, signal_location, schema_name=None, attributes=None, **kwargs):
        """Initialization could fail due to unsatisfied dependency.

        :param string signal_location:
            Besides saving the real payload into encrypted storage,
            this class will also touch this signal file.
            Applications may listen a FileSystemWatcher.Changed event for reload.
            https://docs.microsoft.com/en-us/dotnet/api/system.io.filesystemwatcher.changed?view=netframework-4.8#remarks
        :param string schema_name: See :func:`libsecret.LibSecretAgent.__init__`
        :param dict attributes: See :func:`libsecret.LibSecretAgent.__init__`
        :param kwargs: ``label`` (default ``""``), ``collection`` (a D-Bus
            path; default: the default collection) and ``attribute_types``
            (accepted and ignored: libsecret stores every value as a string).
        """
        label = kwargs.pop("label", "")
        collection = kwargs.pop("collection", None)
        kwargs.pop("attribute_types", None)
        if kwargs:
            raise TypeError("unexpected keyword argument(s): %s" % ", ".join(sorted(kwargs)))
        self._native = _connect_secret_service(
            os.path.expanduser(signal_location),
            schema_name or _auto_hash(signal_location),
            {str(k): str(v) for k, v in (attributes or {}).items()},
            label or "",
            collection,
        )
        from .libsecret import _verify  # pylint: disable=import-outside-toplevel
        _verify(self._native)
        self._file_persistence = FilePersistence(signal_location)  # Favor composition
        _SECRET_SERVICE_PERSISTENCES.add(self)

    def get_location(self):
        return self._file_persistence.get_location()
