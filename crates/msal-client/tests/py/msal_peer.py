"""MSAL Python (msal 1.39 + msal-extensions 1.3.1) as a peer of msal-client,
talking to the test identity provider over HTTPS and sharing a cache file.

    msal_peer.py signin  CACHE AUTHORITY CA CLIENT_ID SCOPE  # device code, approved as the user
    msal_peer.py silent  CACHE AUTHORITY CA CLIENT_ID SCOPE [USERNAME]
    msal_peer.py profile DIR TENANT USERNAME                 # Azure CLI's azureProfile.json (UTF-8 BOM)

Prints one JSON line: access_token, token_source, username.
The cache is msal_extensions' PersistedTokenCache over FilePersistence: what
Azure CLI uses for msal_token_cache.json on Linux and macOS.
"""
import json
import sys
import uuid

import msal
import msal_extensions
import requests


def app(cache_path, authority, ca, client_id):
    session = requests.Session()
    session.verify = ca
    # Else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override `verify`.
    session.trust_env = False
    cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(cache_path))
    # instance_discovery=False: the IdP is not a Microsoft host; MSAL still
    # GETs its OpenID configuration once, here in the constructor.
    return msal.PublicClientApplication(
        client_id, authority=authority, token_cache=cache, http_client=session, instance_discovery=False
    ), session


def out(result):
    if "access_token" not in result:
        print(json.dumps({"error": result.get("error"), "error_description": result.get("error_description")}))
        sys.exit(2)
    print(json.dumps({
        "access_token": result["access_token"],
        "token_source": result.get("token_source"),
        "username": (result.get("id_token_claims") or {}).get("preferred_username"),
    }))


def signin(cache_path, authority, ca, client_id, scope):
    a, session = app(cache_path, authority, ca, client_id)
    flow = a.initiate_device_flow(scopes=[scope])
    assert "user_code" in flow, flow
    r = session.get(flow["verification_uri"], params={"user_code": flow["user_code"]})
    assert r.status_code == 200, r.status_code
    out(a.acquire_token_by_device_flow(flow))


def silent(cache_path, authority, ca, client_id, scope, username=None):
    a, _ = app(cache_path, authority, ca, client_id)
    accounts = a.get_accounts(username=username)
    assert accounts, "no account in the cache"
    r = a.acquire_token_silent([scope], account=accounts[0])
    if r is None:
        print(json.dumps({"error": "no token"}))
        sys.exit(3)
    out(r)


def profile(directory, tenant, username):
    """azureProfile.json as Azure CLI writes it (json.dump after a BOM, utf-8-sig)."""
    doc = {
        "installationId": str(uuid.uuid4()),
        "subscriptions": [{
            "id": str(uuid.uuid4()),
            "name": "Test subscription",
            "state": "Enabled",
            "user": {"name": username, "type": "user"},
            "isDefault": True,
            "tenantId": tenant,
            "environmentName": "AzureCloud",
            "homeTenantId": tenant,
            "managedByTenants": [],
        }],
    }
    with open(directory + "/azureProfile.json", "w", encoding="utf-8-sig") as f:
        json.dump(doc, f)
    print(json.dumps({"written": directory + "/azureProfile.json"}))


if __name__ == "__main__":
    {"signin": signin, "silent": silent, "profile": profile}[sys.argv[1]](*sys.argv[2:])
