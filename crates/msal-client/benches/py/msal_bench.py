"""MSAL Python 1.39 + msal-extensions 1.3.1: the anchor of msal-client's benchmarks.

    msal_bench.py warm CACHE AUTHORITY CA CLIENT_ID SCOPE N   # N silent calls in one process
    msal_bench.py herd CACHE AUTHORITY CA CLIENT_ID SCOPE GO  # wait for GO, one silent call

The cache is msal_extensions' PersistedTokenCache over FilePersistence (what
Azure CLI uses); the app talks to the test IdP through a requests session
that trusts only the test CA.
"""
import os
import sys
import time

import msal
import msal_extensions
import requests


def app(cache_path, authority, ca, client_id):
    session = requests.Session()
    session.verify = ca
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(cache_path))
    return msal.PublicClientApplication(
        client_id, authority=authority, token_cache=cache, http_client=session, instance_discovery=False)


def warm(cache_path, authority, ca, client_id, scope, n):
    a = app(cache_path, authority, ca, client_id)
    account = a.get_accounts()[0]
    assert a.acquire_token_silent([scope], account=account)["token_source"] == "cache"
    xs = []
    for _ in range(int(n)):
        t = time.perf_counter()
        r = a.acquire_token_silent([scope], account=account)
        xs.append((time.perf_counter() - t) * 1e6)
        assert r["token_source"] == "cache"
    xs.sort()
    print("median %.2f us, p99 %.2f us (%d calls)" % (xs[len(xs) // 2], xs[min(len(xs) - 1, len(xs) * 99 // 100)], len(xs)))


def herd(cache_path, authority, ca, client_id, scope, go):
    print("ready", flush=True)  # interpreter started, msal imported
    # Bounded as the tests' workers are: a parent that died never leaves a worker polling.
    deadline = time.monotonic() + 30
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.001)
    a = app(cache_path, authority, ca, client_id)
    accounts = a.get_accounts()
    if not accounts:
        sys.exit("get_accounts() found no account: the cache read as empty")
    r = a.acquire_token_silent([scope], account=accounts[0])
    if not r or "access_token" not in r:
        sys.exit("no token: %s" % (r and r.get("error")))


if __name__ == "__main__":
    {"warm": warm, "herd": herd}[sys.argv[1]](*sys.argv[2:])
