#!/usr/bin/env python3
"""msal-extensions-rs side by side with Microsoft's msal-extensions 1.3.1.

Both are installed in one venv (scripts/py-package.sh); every measurement
runs in child interpreters, alternately on this package (MSAL_EXTENSIONS_RS=on)
and on the reference (=off), in the same folder, so the ratios compare like
with like on a noisy machine. Workloads follow the project's anchor
measurements of the reference (../shared/reference/anchor-bench).

  package_bench.py lock   [--n 2 8 32] [--k 50] [--rounds 5] [--dir /dev/shm/...]
      N processes x K cycles of {CrossPlatLock; O_EXCL marker (its failure =
      two holders at once); FilePersistence load, append a line, save;
      remove the marker} (crates/msal-extensions/tests/py/lock_worker.py),
      started at one instant. lost = cycles - distinct lines.
  package_bench.py cache  [--tokens 10000] [--iters 40] [--dir ...]
      PersistedTokenCache on a cache of N access tokens: search (unchanged
      file; after another writer replaced it), modify, add.
  package_bench.py import [--runs 30]
      interpreter start + `import msal_extensions` (+ one cache search).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

IMPLS = ("rs", "reference")


def env_for(impl):
    return dict(os.environ, MSAL_EXTENSIONS_RS="on" if impl == "rs" else "off", PYTHONDONTWRITEBYTECODE="1")


def median_ms(xs):
    return statistics.median(xs) * 1e3


def pct_ms(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3


def versions():
    out = {}
    for impl in IMPLS:
        p = subprocess.run([sys.executable, "-c", "import json, msal, msal_extensions as m; print(json.dumps("
                            "[m.__version__, m.__file__, getattr(m, '__core_version__', None), msal.__version__]))"],
                           env=env_for(impl), capture_output=True, text=True, check=True)
        out[impl] = json.loads(p.stdout)
    return out


# ---------------------------------------------------------------- lock
# The workers are the library's own test worker, which does the anchor's cycle.
LOCK_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "msal-extensions", "tests", "py",
                           "lock_worker.py")


def lock_run(impl, n, k, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    data = os.path.join(workdir, "shared.txt")
    files = [(os.path.join(workdir, "ready.%d" % i), os.path.join(workdir, "result.%d" % i)) for i in range(n)]
    procs = [subprocess.Popen([sys.executable, LOCK_WORKER, data, str(k), "w%d" % i, ready, result, "0", "0"],
                              env=env_for(impl), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
             for i, (ready, result) in enumerate(files)]
    try:
        deadline = time.time() + 120
        while not all(os.path.exists(ready) for ready, _ in files):
            assert time.time() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
            time.sleep(0.005)
        go = time.time() + 0.2  # one instant for all: no worker runs its cycles alone
        for p in procs:
            p.stdin.write("go %f\n" % go)
            p.stdin.flush()
        for p in procs:
            p.stdin.close()
            assert p.wait(600) == 0, "a worker failed"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for _, result in files:
        with open(result) as f:
            results.append(dict(line.split("=", 1) for line in f.read().splitlines()))
    with open(data) as f:
        lines = set(l for l in f.read().splitlines() if l)
    cycles = sum(int(r["ok"]) for r in results)
    errors = {}
    for r in results:
        for name, count in json.loads(r["errors"]).items():
            errors[name] = errors.get(name, 0) + count
        if int(r["lock_errors"]):
            errors["LockError"] = errors.get("LockError", 0) + int(r["lock_errors"])
    return {"cycles_per_s": cycles / (max(float(r["end"]) for r in results) - go), "lost": cycles - len(lines),
            "overlaps": sum(int(r["overlaps"]) for r in results),
            "p50": statistics.median(float(r["wait_p50_ms"]) for r in results),
            "max": max(float(r["wait_max_ms"]) for r in results), "errors": errors,
            "lock": sorted(set(r["lock_impl"] for r in results))}


def bench_lock(a):
    print("\n## Lock: N processes x %d cycles of lock + load + append + save, on %s" % (a.k, a.dir))
    print("(wait p50: median of the processes' median waits; max: the longest wait of any)")
    print("%4s %-10s %5s %10s %7s %9s %9s %6s %6s  %s" % (
        "N", "impl", "round", "cycles/s", "ratio", "p50 ms", "max ms", "lost", "ovlap", "lock, errors"))
    for n in a.n:
        for rnd in range(a.rounds):
            r = {impl: lock_run(impl, n, a.k, os.path.join(a.dir, "n%d-%s" % (n, impl))) for impl in IMPLS}
            for impl in IMPLS:
                x = r[impl]
                ratio = x["cycles_per_s"] / r["reference"]["cycles_per_s"]
                print("%4d %-10s %5d %10.1f %6.1fx %9.2f %9.1f %6d %6d  %s %s" % (
                    n, impl, rnd, x["cycles_per_s"], ratio, x["p50"], x["max"], x["lost"], x["overlaps"],
                    ",".join(x["lock"]), x["errors"] or ""), flush=True)
    shutil.rmtree(a.dir, ignore_errors=True)


# ---------------------------------------------------------------- cache
CLIENT, UID, UTID = "bench_client", "uid", "utid"
ENDPOINT = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
FAR = 10 * 365 * 24 * 3600  # never expires during the run (searches remove expired tokens)


def scope(i):
    return "https://graph.microsoft.com/s%06d" % i


def event(i):
    import base64
    client_info = base64.urlsafe_b64encode(json.dumps({"uid": UID, "utid": UTID}).encode()).decode().rstrip("=")
    return {"client_id": CLIENT, "scope": [scope(i)], "token_endpoint": ENDPOINT,
            "response": {"access_token": "at %d" % i, "token_type": "Bearer", "expires_in": FAR,
                         "client_info": client_info}}


def replace_file(path):
    """Another writer: the same content under a new inode and mtime."""
    with open(path, "rb") as f:
        content = f.read()
    with open(path + ".other", "wb") as f:
        f.write(content)
    os.replace(path + ".other", path)


def cache_worker(path, iters):
    import msal
    from msal_extensions import FilePersistence, PersistedTokenCache
    at = msal.TokenCache.CredentialType.ACCESS_TOKEN
    with open(path) as f:
        n = len(json.load(f)["AccessToken"])
    cache = PersistedTokenCache(FilePersistence(path))
    out = {}
    t = time.perf_counter()
    assert len(list(cache.search(at, target=[scope(0)]))) == 1
    out["first search (load + parse)"] = [time.perf_counter() - t]
    xs = []
    for j in range(iters * 5):
        t = time.perf_counter()
        found = list(cache.search(at, target=[scope(j * 7919 % n)]))
        xs.append(time.perf_counter() - t)
        assert len(found) == 1
    out["search, file unchanged"] = xs
    key = {"home_account_id": "%s.%s" % (UID, UTID), "environment": "login.microsoftonline.com",
           "client_id": CLIENT, "realm": "contoso"}
    xs = []
    for j in range(iters * 5):
        t = time.perf_counter()
        entry = next(cache.search(at, target=[scope(j * 7919 % n)], query=key))
        xs.append(time.perf_counter() - t)
        assert entry["target"] == scope(j * 7919 % n)
    out["lookup by full key, file unchanged"] = xs
    xs, reloads = [], 0
    for j in range(iters):
        time.sleep(0.01)  # a write clearly after our last read, so the reference notices it too
        replace_file(path)
        before = cache._last_sync  # pylint: disable=protected-access
        t = time.perf_counter()
        found = list(cache.search(at, target=[scope(j * 7919 % n)]))
        xs.append(time.perf_counter() - t)
        reloads += cache._last_sync != before  # pylint: disable=protected-access
        assert len(found) == 1
    out["search after another writer replaced the file"] = xs
    out["reloads"] = reloads
    xs = []
    for j in range(iters):
        entry = next(cache.search(at, target=[scope(j % n)], query=key))
        t = time.perf_counter()
        cache.modify(at, entry, {"cached_at": str(int(time.time()) + j)})
        xs.append(time.perf_counter() - t)
    out["modify one token"] = xs
    xs = []
    for j in range(iters):
        t = time.perf_counter()
        cache.add(event(n + j))
        xs.append(time.perf_counter() - t)
    out["add one token response"] = xs
    out["file bytes after"] = os.path.getsize(path)
    print(json.dumps(out))


def bench_cache(a):
    import msal
    seed = msal.SerializableTokenCache()
    for i in range(a.tokens):
        seed.add(event(i))
    content = seed.serialize()  # MSAL Python's own file, as both find it at first
    print("\n## PersistedTokenCache on %d access tokens (%.1f MiB as MSAL writes it), in %s; "
          "median (p90) of 2 processes x %d-%d runs" % (a.tokens, len(content) / 2 ** 20, a.dir, a.iters, a.iters * 5))
    results = {impl: {} for impl in IMPLS}
    # Twice, in the order A B B A, so that a load change on this shared
    # machine weighs on both the same.
    for impl in IMPLS + IMPLS[::-1]:
        os.makedirs(a.dir, exist_ok=True)
        path = os.path.join(a.dir, "cache-%s.json" % impl)
        with open(path, "w") as f:
            f.write(content)
        p = subprocess.run([sys.executable, __file__, "--cache-worker", path, str(a.iters)], env=env_for(impl),
                           capture_output=True, text=True, timeout=1800)
        if p.returncode:
            raise SystemExit("cache worker (%s) failed:\n%s" % (impl, p.stderr))
        for op, v in json.loads(p.stdout.splitlines()[-1]).items():
            if isinstance(v, list):
                results[impl].setdefault(op, []).extend(v)
            else:
                results[impl][op] = results[impl].get(op, 0) + v if op == "reloads" else v
    print("%-48s %20s %20s %8s" % ("operation", "msal-extensions-rs", "reference", "ratio"))
    for op, xs in results["rs"].items():
        if not isinstance(xs, list):
            continue
        ys = results["reference"][op]
        print("%-48s %11.3f (%6.3f) %11.3f (%6.3f) %7.1fx" % (
            op, median_ms(xs), pct_ms(xs, 0.9), median_ms(ys), pct_ms(ys, 0.9), median_ms(ys) / median_ms(xs)))
    print("(ms) reloads noticed after %d foreign writes: rs %d, reference %d; file after the adds: rs %.1f MiB "
          "(compact JSON), reference %.1f MiB (indented)" % (
              2 * a.iters, results["rs"]["reloads"], results["reference"]["reloads"],
              results["rs"]["file bytes after"] / 2 ** 20, results["reference"]["file bytes after"] / 2 ** 20))
    shutil.rmtree(a.dir, ignore_errors=True)


# ---------------------------------------------------------------- import
def bench_import(a):
    probe = os.path.join(a.dir, "c.json")
    os.makedirs(a.dir, exist_ok=True)
    cmds = [
        ("python -c pass", "pass"),
        ("python -c 'import msal_extensions'", "import msal_extensions"),
        ("import msal_extensions + PersistedTokenCache + 1 search",
         "import msal_extensions as m; c = m.PersistedTokenCache(m.FilePersistence(%r)); "
         "list(c.search('AccessToken', target=['x']))" % probe),
    ]
    print("\n## Start-up: median (p90) of %d fresh interpreters, alternating" % a.runs)
    print("%-58s %18s %18s %7s" % ("command", "msal-extensions-rs", "reference", "ratio"))
    for name, code in cmds:
        times = {impl: [] for impl in IMPLS}
        for impl in IMPLS:  # warm the page cache
            subprocess.run([sys.executable, "-c", code], env=env_for(impl), check=True)
        for _ in range(a.runs):
            for impl in IMPLS:
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env_for(impl), check=True)
                times[impl].append(time.perf_counter() - t)
        rs, ref = times["rs"], times["reference"]
        print("%-58s %8.1f (%6.1f) %8.1f (%6.1f) %6.2fx" % (
            name, median_ms(rs), pct_ms(rs, 0.9), median_ms(ref), pct_ms(ref, 0.9), median_ms(ref) / median_ms(rs)))
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], env=env_for("rs"),
                       capture_output=True, text=True)
    hook = [l for l in p.stderr.splitlines() if l.rstrip().endswith("msal_extensions_rs")]
    print("the switch (msal_extensions_rs.pth, imported by every interpreter of the venv): %s" % (
        hook[0].split(":", 1)[1].strip() if hook else "not loaded"))
    shutil.rmtree(a.dir, ignore_errors=True)


def main():
    if sys.argv[1:2] == ["--cache-worker"]:
        return cache_worker(sys.argv[2], int(sys.argv[3]))
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["lock", "cache", "import", "all"])
    ap.add_argument("--n", type=int, nargs="+", default=[2, 8, 32])
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=10000)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    v = versions()
    print("# python %s; msal %s; msal-extensions-rs %s (core %s) vs msal-extensions %s (%s)" % (
        sys.version.split()[0], v["rs"][3], v["rs"][0], v["rs"][2], v["reference"][0], v["reference"][1]))
    base = a.dir
    if a.what in ("lock", "all"):
        a.dir = base or "/dev/shm/msalx-bench-py-lock"
        bench_lock(a)
    if a.what in ("cache", "all"):
        a.dir = base or "/tmp/msalx-bench-py-cache"
        bench_cache(a)
    if a.what in ("import", "all"):
        a.dir = base or "/tmp/msalx-bench-py-import"
        bench_import(a)


if __name__ == "__main__":
    main()
