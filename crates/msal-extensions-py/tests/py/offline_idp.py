"""An offline Microsoft identity platform for the tests, at two layers:

- :func:`install` answers every HTTP request made through ``requests``
  (MSAL's default ``http_client``, azure-core's default transport, so Azure
  CLI and Azure Identity run unchanged) by patching the transport adapter's
  ``send``; a request it does not know fails the test with ConnectionError;
- :func:`discovery` and :func:`token_response` build the bodies, also used by
  conftest's ``FakeIdentityProvider`` (an MSAL ``http_client`` object).

Access tokens are ``at-<pid>-<n>``, so a test can tell which process fetched
a token it later finds in a cache. ``POSTS`` and ``ISSUED`` record the token requests and the tokens given.
"""
import base64
import json
import os
import re
from urllib.parse import parse_qs

AUTHORITY = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
POSTS = []  # the grant type of every token request, in order
ISSUED = []  # the access token of every answer, in order


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def discovery(tenant):
    base = "https://login.microsoftonline.com/%s" % tenant
    return {
        "authorization_endpoint": base + "/oauth2/v2.0/authorize",
        "token_endpoint": base + "/oauth2/v2.0/token",
        "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
        "issuer": "https://login.microsoftonline.com/%s/v2.0" % tenant,
    }


def token_response(access_token, user=None, client_id="client"):
    """A token endpoint answer; ``user=(uid, utid, username)`` adds what a
    user sign-in returns (refresh token, id token, client_info)."""
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
    if user:
        uid, utid, username = user
        body.update({
            "refresh_token": "rt-" + uid,
            "client_info": b64url({"uid": uid, "utid": utid}),
            "id_token": "%s.%s.sig" % (b64url({"alg": "none"}), b64url({
                "iss": "https://login.microsoftonline.com/%s/v2.0" % utid, "sub": uid, "oid": uid,
                "tid": utid, "aud": client_id, "preferred_username": username,
                "exp": 4102444800, "iat": 1700000000})),
        })
    return body


_DISCOVERY = re.compile(r"^https://login\.microsoftonline\.com/([^/]+)/+v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^https://login\.microsoftonline\.com/([^/]+)/oauth2/v2\.0/token$")
_REALM = re.compile(r"^https://login\.microsoftonline\.com/common/userrealm/([^/?]+)$")


def _answer(method, url, body):
    """(status, JSON body) for one request."""
    path = url.split("?")[0]
    m = _DISCOVERY.match(path)
    if method == "GET" and m:
        return 200, discovery(m.group(1))
    m = _REALM.match(path)
    if method == "GET" and m:
        return 200, {"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.com",
                     "cloud_instance_name": "microsoftonline.com",
                     "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
    m = _TOKEN.match(path)
    if method == "POST" and m:
        form = {k: v[0] for k, v in parse_qs(body or "").items()}
        grant = form.get("grant_type", "")
        POSTS.append(grant)
        token = "at-%d-%d" % (os.getpid(), len(POSTS))
        ISSUED.append(token)
        user = None
        if grant in ("password", "refresh_token", "authorization_code"):
            name = form.get("username", "ada@contoso.com")
            user = ("uid-" + name.split("@")[0], m.group(1), name)
        return 200, token_response(token, user, form.get("client_id", "client"))
    return None, None


def install():
    """Patches requests' transport adapter for the rest of the process."""
    import io
    import requests
    import requests.adapters
    import urllib3

    def send(adapter, request, **kwargs):  # pylint: disable=unused-argument
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        status, answer = _answer(request.method, request.url, body)
        if status is None:
            raise requests.ConnectionError("offline test: no route for %s %s" % (request.method, request.url))
        data = json.dumps(answer).encode()
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), status=status, reason="OK", preload_content=False,
            headers={"Content-Type": "application/json", "Content-Length": str(len(data))})
        return adapter.build_response(request, raw)  # what requests does with a real answer

    requests.adapters.HTTPAdapter.send = send


def caches_in_use():
    """The files defining every live ``PersistedTokenCache``: which
    ``msal_extensions`` an application really used."""
    import gc
    import sys
    return sorted({sys.modules[type(o).__module__].__file__
                   for o in gc.get_objects() if type(o).__name__ == "PersistedTokenCache"})


def token_event(scope, client_id="shared_client", secret=None, authority=AUTHORITY):
    """What MSAL passes to TokenCache.add() after a client-credentials request."""
    return {
        "client_id": client_id, "scope": [scope], "token_endpoint": authority + "/oauth2/v2.0/token",
        "response": {"access_token": secret or ("at-" + scope), "token_type": "Bearer", "expires_in": 3600},
        "grant_type": "client_credentials",
    }
