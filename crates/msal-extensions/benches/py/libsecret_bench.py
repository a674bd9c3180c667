"""The Python reference's LibsecretPersistence (msal-extensions 1.3.1), measured
the same way as benches/secret_service.rs: save and load of 4 KiB and 1 MiB
caches, warm (one persistence reused; libsecret keeps its connection and
session) and cold (libsecret's shared service dropped with
Secret.Service.disconnect(), then a new LibsecretPersistence, whose
constructor runs trial_run(), then the operation).

Run inside scripts/with-secret-service.sh with the interpreter from
scripts/python-peers.sh. Prints Markdown table rows (median, p99 in ms).
"""
import math
import os
import shutil
import tempfile
import time

import gi

gi.require_version("Secret", "1")
from gi.repository import Secret  # noqa: E402  pylint: disable=wrong-import-position

from msal_extensions.persistence import LibsecretPersistence  # noqa: E402


def cache_of_size(size):
    head, tail = '{"AccessToken": {"k": {"secret": "', '"}}}'
    fill = size - len(head) - len(tail)
    return head + "".join(chr(ord("a") + i % 26) for i in range(fill)) + tail


def measure(n, f):
    f()  # warm-up, not counted
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return out


def stats(samples):
    s = sorted(samples)
    def rank(q):
        return s[min(max(math.ceil(q * len(s)), 1), len(s)) - 1] * 1e3
    return rank(0.5), rank(0.99)


def main():
    d = tempfile.mkdtemp(prefix="msalx-bench-py-")
    try:
        for label, size, warm_n, cold_n in [("4 KiB", 4096, 200, 50), ("1 MiB", 1024 * 1024, 30, 15)]:
            content = cache_of_size(size)
            signal = os.path.join(d, "cache-%d" % size)
            warm = LibsecretPersistence(signal)
            warm.save(content)

            def cold():
                Secret.Service.disconnect()
                return LibsecretPersistence(signal)

            def cold_load():
                assert len(cold().load()) == size

            def warm_load():
                assert len(warm.load()) == size

            rows = [
                ("save, warm", measure(warm_n, lambda: warm.save(content))),
                ("load, warm", measure(warm_n, warm_load)),
                ("save, cold (disconnect + constructor with trial_run + save)",
                 measure(cold_n, lambda: cold().save(content))),
                ("load, cold (disconnect + constructor with trial_run + load)",
                 measure(cold_n, cold_load)),
            ]
            for op, samples in rows:
                med, p99 = stats(samples)
                print("| Python LibsecretPersistence | %s | %s | %d | %.3f | %.3f |"
                      % (label, op, len(samples), med, p99))
            warm._agent.clear()  # pylint: disable=protected-access
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
