"""One write step of the real MSAL Python (msal + msal-extensions), offline,
for the change-notification tests (tests/watch.rs). Same backends as
msal_peer.py (MSALX_PEER_BACKEND=libsecret: PATH is a signal file).

Commands (each one write through msal-extensions' PersistedTokenCache or persistence):
  sign_in PATH ENV UID USERNAME    acquire_token_by_authorization_code; the fake token
                                   endpoint answers tokens for UID.tenant1 in cloud ENV
  refresh PATH ENV UID USERNAME    acquire_token_silent(force_refresh=True): a token refresh
  rewrite PATH                     saves the content it loaded, under the lock (a no-op write)
  sign_out PATH UID                PublicClientApplication.remove_account (public cloud)
  clear PATH                       saves an empty cache, under the lock
"""
import json
import sys
import time

import msal
from msal_extensions import CrossPlatLock

from msal_peer import FakeHttp, b64, persisted

CLIENT = "watch-client"
TENANT = "tenant1"
SCOPES = ["User.Read"]


def tokens(env, uid, username, at):
    now = int(time.time())
    claims = {"iss": "https://%s/%s/v2.0" % (env, TENANT), "oid": uid, "tid": TENANT, "sub": uid,
              "aud": CLIENT, "preferred_username": username, "iat": now, "exp": now + 3600}
    return {"access_token": at, "expires_in": 3600, "token_type": "Bearer", "refresh_token": "rt-" + at,
            "scope": " ".join(SCOPES), "id_token": "%s.%s.sig" % (b64({"alg": "none"}), b64(claims)),
            "client_info": b64({"uid": uid, "utid": TENANT})}


def app(path, env, http):
    return msal.PublicClientApplication(CLIENT, authority="https://%s/%s" % (env, TENANT),
                                        token_cache=persisted(path), http_client=http,
                                        instance_discovery=False)


def account(pca, uid):
    found = [a for a in pca.get_accounts() if a["home_account_id"] == "%s.%s" % (uid, TENANT)]
    assert found, "no account %s in %s" % (uid, pca.get_accounts())
    return found[0]


def sign_in(path, env, uid, username):
    http = FakeHttp(tokens(env, uid, username, "at-1"))
    r = app(path, env, http).acquire_token_by_authorization_code("code", SCOPES)
    assert "access_token" in r, r


def refresh(path, env, uid, username):
    http = FakeHttp(tokens(env, uid, username, "at-2"))
    pca = app(path, env, http)
    r = pca.acquire_token_silent(SCOPES, account=account(pca, uid), force_refresh=True)
    assert r and r.get("access_token") == "at-2" and http.posts == 1, r


def under_lock(path, f):
    cache = persisted(path)
    # pylint: disable=protected-access
    with CrossPlatLock(cache._persistence.get_location() + ".lockfile"):
        f(cache._persistence)


def rewrite(path):
    under_lock(path, lambda p: p.save(p.load()))


def sign_out(path, uid):
    pca = app(path, "login.microsoftonline.com", FakeHttp(None))
    pca.remove_account(account(pca, uid))


def clear(path):
    under_lock(path, lambda p: p.save("{}"))


COMMANDS = {"sign_in": sign_in, "refresh": refresh, "rewrite": rewrite, "sign_out": sign_out, "clear": clear}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps({"ok": True}))
