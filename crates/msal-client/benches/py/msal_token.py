"""A fresh process printing Azure CLI's cached token with MSAL Python 1.39 +
msal-extensions 1.3.1: what `msal-cache token --preset azure-cli` does,
written as Azure CLI's own code does it (PublicClientApplication with Azure
CLI's client id on its cache, the user's account by name, acquire_token_silent,
and a pickled HTTP cache so the OpenID configuration is not fetched again).

    msal_token.py CACHE AUTHORITY CA CLIENT_ID SCOPE USERNAME HTTP_CACHE
"""
import pickle
import sys

import msal
import msal_extensions
import requests


def main(cache_path, authority, ca, client_id, scope, username, http_cache_path):
    try:
        with open(http_cache_path, "rb") as f:
            http_cache = pickle.load(f)
    except FileNotFoundError:
        http_cache = {}
    session = requests.Session()
    session.verify = ca
    session.trust_env = False
    app = msal.PublicClientApplication(
        client_id, authority=authority, http_client=session, http_cache=http_cache, instance_discovery=False,
        token_cache=msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(cache_path)))
    account = app.get_accounts(username)[0]
    result = app.acquire_token_silent([scope], account=account)
    with open(http_cache_path, "wb") as f:
        pickle.dump(http_cache, f)
    print(result["access_token"])


if __name__ == "__main__":
    main(*sys.argv[1:])
