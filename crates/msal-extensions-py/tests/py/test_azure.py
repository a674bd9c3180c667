"""Azure Identity and Azure CLI, unchanged and offline, acquire tokens through
this package and reuse them from another process.

Each step runs in a fresh interpreter (as separate `az` invocations or
application runs would), with offline_idp answering requests' transport.
Every step reports the token it got, how many token requests it made, and
which files define the PersistedTokenCache objects it used.
"""
import os

import pytest

from conftest import need, run_py

HERE = os.path.dirname(os.path.abspath(__file__))
TENANT = "00000000-0000-0000-0000-00000000c0de"
ARM = "https://management.azure.com/.default"

PRELUDE = """
import json, os, sys
sys.path.insert(0, %r)
import offline_idp
offline_idp.install()
""" % HERE

IDENTITY = PRELUDE + """
from azure.identity import ClientSecretCredential, TokenCachePersistenceOptions
options = TokenCachePersistenceOptions(name="msalx-test", allow_unencrypted_storage=%(unencrypted)r)
tokens = []
for _ in range(2):  # the second call in the same process is a cache hit too
    cred = ClientSecretCredential(%(tenant)r, "app-id", "app-secret", cache_persistence_options=options)
    tokens.append(cred.get_token(%(scope)r).token)
print(json.dumps([tokens, len(offline_idp.POSTS), offline_idp.caches_in_use()]))
"""


def ours(files):
    return bool(files) and all("msal_extensions_rs" in f for f in files)


@pytest.mark.parametrize("encrypted", [True, False], ids=["secret-service", "plaintext-fallback"])
def test_azure_identity_acquires_then_reuses_across_processes(tmp_path, encrypted):
    env = {"HOME": str(tmp_path)}
    if encrypted:
        need(os.environ.get("WITH_SECRET_SERVICE") == "1", "a Secret Service (scripts/with-secret-service.sh)")
    else:  # no session bus: Azure Identity falls back to a file, as it allows
        env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=%s" % (tmp_path / "no-bus")
    code = IDENTITY % dict(tenant=TENANT, scope=ARM, unencrypted=not encrypted)
    tokens, posts, files = run_py(code, env=env)
    assert posts == 1 and tokens[0] == tokens[1] and tokens[0].startswith("at-"), (tokens, posts)
    assert ours(files), files
    again, posts, files = run_py(code, env=env)
    assert again == tokens and posts == 0, "another process finds the token in the shared cache"
    assert ours(files), files
    signal = tmp_path / ".IdentityService" / "msalx-test.nocae"
    with open(str(signal)) as f:
        content = f.read()
    if encrypted:  # the token is in the Secret Service; the file only signals changes
        assert tokens[0] not in content
        out = run_py("""
            import json
            from msal_extensions import LibsecretPersistence
            p = LibsecretPersistence(%r, "msalx-test.nocae", {"MsalClientID": "Microsoft.Developer.IdentityService"})
            print(json.dumps([%r in p.load()]))""" % (str(signal), tokens[0]), env=env)
        assert out == [True]
    else:
        assert tokens[0] in content


CLI_SP_LOGIN = PRELUDE + """
from azure.cli.core.auth.identity import Identity
identity = Identity("https://login.microsoftonline.com", tenant_id=%(tenant)r, encrypt=%(encrypt)r)
identity.login_with_service_principal("sp-id", {"client_secret": "sp-secret"}, [%(scope)r])
print(json.dumps([len(offline_idp.POSTS), offline_idp.caches_in_use()]))
"""

CLI_SP_TOKEN = PRELUDE + """
from azure.cli.core.auth.identity import Identity
identity = Identity("https://login.microsoftonline.com", tenant_id=%(tenant)r, encrypt=%(encrypt)r)
result = identity.get_service_principal_credential("sp-id").acquire_token([%(scope)r])
print(json.dumps([result["access_token"], result.get("token_source"), len(offline_idp.POSTS),
                  offline_idp.caches_in_use()]))
"""

CLI_USER_LOGIN = PRELUDE + """
from azure.cli.core.auth.identity import Identity
identity = Identity("https://login.microsoftonline.com", tenant_id=%(tenant)r, encrypt=%(encrypt)r)
user = identity.login_with_username_password("ada@contoso.com", "pw", [%(scope)r])
assert user["username"] == "ada@contoso.com", user
print(json.dumps([offline_idp.ISSUED[-1], len(offline_idp.POSTS), offline_idp.caches_in_use()]))
"""

CLI_USER_TOKEN = PRELUDE + """
from azure.cli.core.auth.identity import Identity
identity = Identity("https://login.microsoftonline.com", tenant_id=%(tenant)r, encrypt=%(encrypt)r)
users = [a["username"] for a in identity.get_user()]
result = identity.get_user_credential("ada@contoso.com").acquire_token([%(scope)r])
print(json.dumps([users, result["access_token"], len(offline_idp.POSTS), offline_idp.caches_in_use()]))
"""


@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "secret-service"])
def test_azure_cli_signs_in_then_reuses_tokens_across_processes(tmp_path, encrypt):
    if encrypt:
        need(os.environ.get("WITH_SECRET_SERVICE") == "1", "a Secret Service (scripts/with-secret-service.sh)")
    env = {"AZURE_CONFIG_DIR": str(tmp_path / "azure"), "HOME": str(tmp_path)}
    args = dict(tenant=TENANT, scope=ARM, encrypt=encrypt)
    # A service principal: `az login --service-principal`, then a later command.
    # Not with encryption: on Linux az gives its token cache and its service
    # principal store the same libsecret schema and attributes, hence one
    # item, which each overwrites (with the reference's libsecret as well).
    if not encrypt:
        posts, files = run_py(CLI_SP_LOGIN % args, env=env)
        assert posts == 1 and ours(files), (posts, files)
        token, source, posts, files = run_py(CLI_SP_TOKEN % args, env=env)
        assert (source, posts) == ("cache", 0) and token.startswith("at-") and ours(files)
        assert os.path.exists(str(tmp_path / "azure" / "service_principal_entries.json"))
    # A user: `az login --username`, then a later command uses the cached account and token.
    token, posts, files = run_py(CLI_USER_LOGIN % args, env=env)
    assert posts == 1 and ours(files)
    users, again, posts, files = run_py(CLI_USER_TOKEN % args, env=env)
    assert users == ["ada@contoso.com"] and again == token and posts == 0 and ours(files)
    cache_file = str(tmp_path / "azure" / ("msal_token_cache" + (".bin" if encrypt else ".json")))
    with open(cache_file) as f:
        assert (token in f.read()) is not encrypt, "encrypted: the file only signals; the token is in the item"
