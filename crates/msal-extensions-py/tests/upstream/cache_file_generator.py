"""Stand-in for the helper module ``test_cache_lock_file_perf.py`` imports
(``from .cache_file_generator import _acquire_lock_and_write_to_cache``) but
the msal-extensions 1.3.1 sdist leaves out.

Written for this project from how the test reads the file: each process
takes the lock, appends ``< <pid>``, holds the lock for ``sleep_interval``
seconds, appends ``> <pid>`` and saves; a process that cannot get the lock
(``LockError``) writes nothing. Overlapping holders show up as interleaved
brackets, which the test rejects.
"""
import logging
import os
import time

from msal_extensions import CrossPlatLock, FilePersistence, LockError
from msal_extensions.persistence import PersistenceNotFound


def _acquire_lock_and_write_to_cache(cache_location, sleep_interval):
    persistence = FilePersistence(cache_location)
    try:
        with CrossPlatLock(persistence.get_location() + ".lockfile"):
            try:
                content = persistence.load()
            except PersistenceNotFound:
                content = ""
            content += "< %d\n" % os.getpid()
            time.sleep(sleep_interval)
            content += "> %d\n" % os.getpid()
            persistence.save(content)
    except LockError as exc:
        logging.warning("pid %d did not get the lock: %s", os.getpid(), exc)
