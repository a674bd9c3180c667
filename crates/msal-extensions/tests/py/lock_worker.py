"""A Python msal-extensions process in the shared-lockfile workload.

Usage: python lock_worker.py DATA_FILE K TAG READY_FILE RESULT_FILE RUN_MS THINK_MS

Runs up to K cycles (and, if RUN_MS > 0, for at most RUN_MS milliseconds,
pausing a random 0..THINK_MS ms between cycles) of: CrossPlatLock(DATA_FILE + ".lockfile"); inside it, create
DATA_FILE + ".marker" with O_EXCL (failure = another process is inside the
critical section at the same time), load DATA_FILE through FilePersistence,
append "TAG i", save, remove the marker. Waits for a line on stdin before the
first cycle so that every process starts together ("go <unix time>" also waits
for that instant: workers woken one by one could otherwise run their cycles
alone). Writes a summary to RESULT_FILE as "key=value" lines, including which
lock implementation msal-extensions picked (cache_lock = portalocker/flock,
filelock = existence only) and when the last cycle ended (end=<unix time>).
"""
import json
import os
import random
import sys
import time


def main():
    data, k, tag, ready, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    run_s, think_s = int(sys.argv[6]) / 1e3, int(sys.argv[7]) / 1e3
    from msal_extensions import FilePersistence
    from msal_extensions.token_cache import CrossPlatLock, LockError
    from msal_extensions.persistence import PersistenceNotFound

    persistence = FilePersistence(data)
    marker = data + ".marker"
    open(ready, "w").close()
    go = sys.stdin.readline().split()
    while len(go) > 1 and time.time() < float(go[1]):
        time.sleep(0.0005)
    end = time.monotonic() + run_s
    ok = overlaps = lock_errors = 0
    errors = {}
    waits = []
    for i in range(k):
        if run_s and time.monotonic() >= end:
            break
        if think_s:
            time.sleep(random.uniform(0, think_s))
        started = time.perf_counter()
        try:
            with CrossPlatLock(data + ".lockfile"):
                waits.append(time.perf_counter() - started)
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                except FileExistsError:
                    fd = None
                    overlaps += 1
                try:
                    content = persistence.load()
                except PersistenceNotFound:
                    content = ""
                persistence.save(content + "%s %d\n" % (tag, i))
                if fd is not None:
                    os.close(fd)
                    os.unlink(marker)
            ok += 1
        except LockError:
            lock_errors += 1
        except Exception as exc:  # keep going; the test reports it
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    end_time = time.time()
    waits.sort()
    p99 = waits[int(0.99 * (len(waits) - 1))] if waits else 0.0
    p50 = waits[len(waits) // 2] if waits else 0.0
    with open(result, "w") as f:
        f.write("ok=%d\noverlaps=%d\nlock_errors=%d\nerrors=%s\nlock_impl=%s\nwait_p99_ms=%.3f\n"
                "wait_p50_ms=%.3f\nwait_max_ms=%.3f\nend=%.6f\n" % (
                    ok, overlaps, lock_errors, json.dumps(errors), CrossPlatLock.__module__, p99 * 1e3,
                    p50 * 1e3, (waits[-1] if waits else 0.0) * 1e3, end_time))


if __name__ == "__main__":
    main()
