"""Writes token caches with the real MSAL Python (msal + msal-extensions from
PyPI) for the msal-cache CLI tests.

  write_cache.py rich PATH        two users (one with FOCI tokens of the Azure CLI
                                  client, one expired access token), an app token,
                                  unknown fields and an unknown section; fixed times
  write_cache.py many PATH N      N app access tokens (for the start-up benchmark)
  write_cache.py users PATH N     N access tokens of 10 signed-in users (100 scopes each
                                  when N = 1000), with their refresh and id tokens

Every secret contains SECRETVAL so that a test can grep outputs for it.
Times are rewritten to fixed values around NOW = 1900000000 so outputs are
reproducible (run the CLI with MSAL_CACHE_NOW=1900000000).
"""
import base64
import json
import sys

import msal
from msal_extensions import FilePersistence

NOW = 1900000000
TOKEN_ENDPOINT = "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
AZ_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def user_response(uid, utid, username, tag, foci=False):
    id_token = "%s.%s.SECRETVAL-sig-%s" % (b64({"alg": "none"}), b64({
        "iss": "https://login.microsoftonline.com/%s/v2.0" % utid, "sub": "sub-" + uid, "aud": "x",
        "exp": NOW + 3600, "iat": NOW, "oid": "oid-" + uid, "preferred_username": username}), tag)
    r = {"access_token": "SECRETVAL-at-" + tag, "refresh_token": "SECRETVAL-rt-" + tag, "expires_in": 3600,
         "id_token": id_token, "client_info": b64({"uid": uid, "utid": utid})}
    if foci:
        r["foci"] = "1"
    return r


def rich(path):
    cache = msal.SerializableTokenCache()
    cache.add({"client_id": AZ_CLI, "scope": ["https://management.core.windows.net//.default"],
               "token_endpoint": TOKEN_ENDPOINT % "contoso.onmicrosoft.com", "grant_type": "device_code",
               "response": user_response("uid1", "utid1", "alice@contoso.com", "alice-cli", foci=True)})
    cache.add({"client_id": "rich_client", "scope": ["User.Read"],
               "token_endpoint": TOKEN_ENDPOINT % "contoso.onmicrosoft.com", "grant_type": "authorization_code",
               "response": user_response("uid1", "utid1", "alice@contoso.com", "alice-rich")})
    cache.add({"client_id": "rich_client", "scope": ["User.Read", "Mail.Read"],
               "token_endpoint": TOKEN_ENDPOINT % "fabrikam.onmicrosoft.com", "grant_type": "authorization_code",
               "response": user_response("uid2", "utid2", "bob@fabrikam.com", "bob-rich")})
    cache.add({"client_id": "daemon_client", "scope": ["https://graph.microsoft.com/.default"],
               "token_endpoint": TOKEN_ENDPOINT % "contoso.onmicrosoft.com", "grant_type": "client_credentials",
               "response": {"access_token": "SECRETVAL-at-daemon", "expires_in": 3600}})
    state = json.loads(cache.serialize())
    for section in state.values():
        for entry in section.values():
            for field in ("cached_at", "last_modification_time"):
                if field in entry:
                    entry[field] = str(NOW - 10000)
            if "expires_on" in entry:
                expired = entry.get("client_id") == "rich_client" and entry.get("home_account_id") == "uid1.utid1"
                entry["expires_on"] = str(NOW - 3600 if expired else NOW + 3600)
                entry["extended_expires_on"] = entry["expires_on"]
            entry["x_future_field"] = {"nested": [1, "two", None]}
    state["FutureSection"] = {"k": {"v": 1}}
    FilePersistence(path).save(json.dumps(state, indent=4))


def many(path, n):
    cache = msal.SerializableTokenCache()
    for i in range(int(n)):
        cache.add({"client_id": "bench_client", "scope": ["api://bench/scope-%d" % i],
                   "token_endpoint": TOKEN_ENDPOINT % "contoso.onmicrosoft.com",
                   "response": {"access_token": "SECRETVAL-%d" % i, "expires_in": 3600}})
    FilePersistence(path).save(cache.serialize())


def users(path, n):
    cache = msal.SerializableTokenCache()
    for i in range(int(n)):
        u = i % 10
        cache.add({"client_id": AZ_CLI, "scope": ["api://bench/scope-%d" % i],
                   "token_endpoint": TOKEN_ENDPOINT % "contoso.onmicrosoft.com", "grant_type": "device_code",
                   "response": user_response("uid%d" % u, "utid", "user%d@contoso.com" % u, "u%d-%d" % (u, i),
                                             foci=True)})
    FilePersistence(path).save(cache.serialize())


if __name__ == "__main__":
    {"rich": rich, "many": many, "users": users}[sys.argv[1]](*sys.argv[2:])
