"""Drives the real MSAL Python (msal + msal-extensions from PyPI) offline for
the Rust interop tests. Network calls go to a fake http_client; every command
prints one JSON object on stdout.

Commands:
  cc_acquire PATH CLIENT SCOPE SECRET   ConfidentialClientApplication.acquire_token_for_client;
                                        the fake token endpoint answers SECRET
  cc_cached PATH CLIENT SCOPE           same, but any token request is an error (cache only)
  sign_in PATH CLIENT SCOPE RESPONSE    PublicClientApplication.acquire_token_by_authorization_code;
                                        the fake token endpoint answers the JSON RESPONSE
  pca_silent PATH CLIENT SCOPE [HAI]    PublicClientApplication.get_accounts() and
                                        acquire_token_silent (token requests are errors), for
                                        the first account or the one with home_account_id HAI
  write_rich PATH                       a cache written by msal's own TokenCache.add for a
                                        user sign-in and an app token, plus unknown fields and
                                        sections, saved with msal-extensions FilePersistence
  check_superset ORIG NEW               lists every section/entry/field of ORIG not in NEW unchanged
  add_many PATH PREFIX N                PersistedTokenCache(FilePersistence).add of N tokens
                                        with scopes PREFIX-0 .. PREFIX-(N-1)

With MSALX_PEER_BACKEND=libsecret in the environment, PATH is the signal file
of a LibsecretPersistence instead of a plaintext cache file. MSALX_PEER_TENANT
sets the tenant; with MSALX_PEER_DISCOVERY=1 the applications run instance
discovery as by default (answered like Entra ID), so MSAL Python also looks
for accounts and tokens under the other aliases of the cloud.
"""
import base64
import json
import sys
import os
import time

import msal
from msal_extensions import FilePersistence, LibsecretPersistence, PersistedTokenCache

TENANT = os.environ.get("MSALX_PEER_TENANT", "contoso.onmicrosoft.com")
DISCOVERY = os.environ.get("MSALX_PEER_DISCOVERY") == "1"
AUTHORITY = "https://login.microsoftonline.com/" + TENANT
TOKEN_ENDPOINT = AUTHORITY + "/oauth2/v2.0/token"


class Resp:
    def __init__(self, body, status=200):
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {}

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %d" % self.status_code)


class FakeHttp:
    """Answers OIDC discovery; answers token requests with `token_body`, or
    fails the test if `token_body` is None (the token must come from the cache)."""

    def __init__(self, token_body=None):
        self.token_body = token_body
        self.posts = 0

    def get(self, url, **kwargs):
        if DISCOVERY and "/discovery/instance" in url:
            return Resp({"tenant_discovery_endpoint": AUTHORITY + "/v2.0/.well-known/openid-configuration",
                         "api-version": "1.1",
                         "metadata": [{"preferred_network": "login.microsoftonline.com",
                                       "preferred_cache": "login.windows.net",
                                       "aliases": ["login.microsoftonline.com", "login.windows.net",
                                                   "login.microsoft.com", "sts.windows.net"]}]})
        if url.endswith("/.well-known/openid-configuration"):
            base = url.split("/v2.0/.well-known")[0]
            return Resp({"authorization_endpoint": base + "/oauth2/v2.0/authorize",
                         "token_endpoint": base + "/oauth2/v2.0/token",
                         "issuer": base + "/v2.0"})
        raise AssertionError("unexpected GET " + url)

    def post(self, url, **kwargs):
        self.posts += 1
        if self.token_body is None:
            raise AssertionError("unexpected token request to " + url)
        return Resp(self.token_body)

    def close(self):
        pass


def persisted(path):
    if os.environ.get("MSALX_PEER_BACKEND") == "libsecret":
        return PersistedTokenCache(LibsecretPersistence(path))
    return PersistedTokenCache(FilePersistence(path))


def cc_app(path, client, http):
    return msal.ConfidentialClientApplication(
        client, client_credential="not-a-real-secret", authority=AUTHORITY,
        token_cache=persisted(path), http_client=http, instance_discovery=DISCOVERY)


def cc_acquire(path, client, scope, secret):
    http = FakeHttp({"access_token": secret, "expires_in": 3600, "token_type": "Bearer"})
    r = cc_app(path, client, http).acquire_token_for_client([scope])
    return {"access_token": r.get("access_token"), "token_source": r.get("token_source"),
            "error": r.get("error"), "posts": http.posts}


def cc_cached(path, client, scope):
    http = FakeHttp(None)
    try:
        r = cc_app(path, client, http).acquire_token_for_client([scope])
    except AssertionError as e:  # a cache miss: the token request FakeHttp refuses
        return {"access_token": None, "token_source": None, "error": str(e), "posts": http.posts}
    return {"access_token": r.get("access_token"), "token_source": r.get("token_source"),
            "error": r.get("error"), "posts": http.posts}


def pca_silent(path, client, scope, home_account_id=None):
    """With HOME_ACCOUNT_ID, silently for that account (`listed` tells whether
    get_accounts() listed it; if not, the account is named by its id alone)."""
    http = FakeHttp(None)
    app = msal.PublicClientApplication(client, authority=AUTHORITY, token_cache=persisted(path),
                                       http_client=http, instance_discovery=DISCOVERY)
    accounts = app.get_accounts()
    out = {"accounts": [{"username": a.get("username"), "home_account_id": a.get("home_account_id")}
                        for a in accounts]}
    account = accounts[0] if accounts else None
    if home_account_id:
        listed = [a for a in accounts if a.get("home_account_id") == home_account_id]
        out["listed"] = bool(listed)
        account = listed[0] if listed else {"home_account_id": home_account_id}
    if account:
        r = app.acquire_token_silent([scope], account=account) or {}
        out.update(access_token=r.get("access_token"), token_source=r.get("token_source"),
                   error=r.get("error"))
    out["posts"] = http.posts
    return out


def sign_in(path, client, scope, response):
    http = FakeHttp(json.loads(response))
    app = msal.PublicClientApplication(client, authority=AUTHORITY, token_cache=persisted(path),
                                       http_client=http, instance_discovery=DISCOVERY)
    r = app.acquire_token_by_authorization_code("fake-code", [scope], redirect_uri="http://localhost")
    return {"access_token": r.get("access_token"), "error": r.get("error"),
            "error_description": r.get("error_description"), "posts": http.posts}


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def write_rich(path):
    cache = msal.SerializableTokenCache()
    now = int(time.time())
    id_token = "%s.%s.sig" % (b64({"alg": "none"}), b64({
        "iss": "https://login.microsoftonline.com/utid/v2.0", "sub": "sub1", "aud": "rich_client",
        "exp": now + 3600, "iat": now, "oid": "oid1", "preferred_username": "rich@contoso.com"}))
    cache.add({"client_id": "rich_client", "scope": ["User.Read"], "token_endpoint": TOKEN_ENDPOINT,
               "grant_type": "authorization_code",
               "response": {"access_token": "py-user-at", "refresh_token": "py-user-rt", "expires_in": 3600,
                            "id_token": id_token, "client_info": b64({"uid": "uid1", "utid": "utid1"})}})
    cache.add({"client_id": "rich_client", "scope": ["https://graph.microsoft.com/.default"],
               "token_endpoint": TOKEN_ENDPOINT, "grant_type": "client_credentials",
               "response": {"access_token": "py-app-at", "expires_in": 3600}})
    state = json.loads(cache.serialize())
    # What other SDKs and future versions add: unknown fields in every section and unknown sections.
    for section in state.values():
        for entry in section.values():
            entry["x_future_field"] = {"nested": [1, "two", None]}
    state["FutureSection"] = {"k": {"v": 1}}
    state["AppMetadata"]["appmetadata-login.microsoftonline.com-rich_client"]["x_dotnet"] = True
    FilePersistence(path).save(json.dumps(state, indent=4))
    return {"ok": True}


def add_many(path, prefix, n):
    cache = persisted(path)
    for i in range(int(n)):
        cache.add({"client_id": "shared_client", "scope": ["%s-%d" % (prefix, i)],
                   "token_endpoint": TOKEN_ENDPOINT,
                   "response": {"access_token": "%s-%d" % (prefix, i), "expires_in": 3600}})
    return {"ok": True}


def check_superset(orig_path, new_path):
    """Every section, entry and field of the original file is in the new one, unchanged."""
    orig = json.load(open(orig_path))
    new = json.load(open(new_path))
    missing = []
    for section, entries in orig.items():
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            if new.get(section) != entries:
                missing.append(section)
            continue
        for key, entry in entries.items():
            for field, value in entry.items():
                if new.get(section, {}).get(key, {}).get(field, "<absent>") != value:
                    missing.append("%s/%s/%s" % (section, key, field))
    return {"missing": missing, "entries": sum(len(v) for v in new.values() if isinstance(v, dict))}


COMMANDS = {"check_superset": check_superset, "cc_acquire": cc_acquire, "cc_cached": cc_cached, "pca_silent": pca_silent, "sign_in": sign_in,
            "write_rich": write_rich, "add_many": add_many}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
