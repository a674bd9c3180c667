"""A Python program on ``msal_extensions``, driven by tests/python_package.rs.

Which implementation it runs on is the caller's choice: this package, or
Microsoft's with MSAL_EXTENSIONS_RS=off. Prints one JSON line.

  peer.py add-many <cache> <prefix> <n> [<go>]
                                            n times what MSAL does for a token
                                            request: search the cache (a miss),
                                            then add the new token (scope
                                            <prefix>-<i>); with <go>, first
                                            creates <go>.<prefix> and waits
                                            for <go> (a start barrier)
  peer.py find <cache> <scope>              the access token for scope, or null
  peer.py hold-lock <lockfile> <seconds>    prints "held", holds, releases
  peer.py try-lock <lockfile> <timeout>     "acquired" or "LockError"
  peer.py secret-save <signal> <content>    LibsecretPersistence with Azure
  peer.py secret-load <signal>              Identity's Linux names (schema
                                            msal.cache.nocae, MsalClientID)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msal  # noqa: E402
import msal_extensions  # noqa: E402
from offline_idp import token_event  # noqa: E402


def cache(path):
    return msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(path))


def wait_for(go, prefix):
    open("%s.%s" % (go, prefix), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal at %s" % go)
        time.sleep(0.001)


def add_many(path, prefix, n, go=None):
    c, ok, errors = cache(path), 0, {}
    if go:
        wait_for(go, prefix)
    for i in range(int(n)):
        scope = "%s-%d" % (prefix, i)
        try:
            list(c.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[scope]))
            c.add(token_event(scope))
            ok += 1
        except Exception as exc:  # pylint: disable=broad-except  (the reference's failures are counted)
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    return {"ok": ok, "errors": errors, "rs": "msal_extensions_rs" in msal_extensions.__file__}


def find(path, scope):
    found = list(cache(path).search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[scope]))
    return {"secret": found[0]["secret"] if found else None}


def hold_lock(path, seconds):
    with msal_extensions.CrossPlatLock(path):
        print("held", flush=True)
        time.sleep(float(seconds))
    return {"released": True}


def try_lock(path, timeout):
    try:
        with msal_extensions.CrossPlatLock(path, timeout=float(timeout)):
            return {"result": "acquired"}
    except msal_extensions.LockError as exc:
        return {"result": "LockError", "message": str(exc)}


def secret(signal):
    return msal_extensions.LibsecretPersistence(
        signal, "msal.cache.nocae", {"MsalClientID": "Microsoft.Developer.IdentityService"}, label="MSALCache")


def secret_save(signal, content):
    secret(signal).save(content)
    return {"saved": True}


def secret_load(signal):
    return {"content": secret(signal).load()}


COMMANDS = {"add-many": add_many, "find": find, "hold-lock": hold_lock, "try-lock": try_lock,
            "secret-save": secret_save, "secret-load": secret_load}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])), flush=True)
