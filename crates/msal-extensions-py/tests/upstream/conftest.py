"""Runs the msal-extensions 1.3.1 sdist's tests offline (added by this project).

``test_agnostic_backend.py`` builds real ``msal.ConfidentialClientApplication``
objects, whose constructor fetches the authority's OpenID configuration from
login.microsoftonline.com before the test patches ``post``. This fixture
answers that one GET from memory, through requests' transport adapter (the
layer below MSAL's default ``http_client``); any other request fails the test
instead of reaching the network.
"""
import json
import re

import pytest
import requests
import requests.adapters

_DISCOVERY = re.compile(r"^https://login\.microsoftonline\.com/([^/]+)/+v2\.0/\.well-known/openid-configuration$")


def _answer(request):
    m = _DISCOVERY.match(request.url.split("?")[0])
    if request.method != "GET" or not m:
        raise requests.ConnectionError("offline test run: no network for %s %s" % (request.method, request.url))
    tenant = m.group(1)
    base = "https://login.microsoftonline.com/%s" % tenant
    body = {
        "authorization_endpoint": base + "/oauth2/v2.0/authorize",
        "token_endpoint": base + "/oauth2/v2.0/token",
        "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
        "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
    }
    resp = requests.Response()
    resp.status_code = 200
    resp._content = json.dumps(body).encode()  # pylint: disable=protected-access
    resp.headers["Content-Type"] = "application/json"
    resp.url = request.url
    resp.request = request
    return resp


@pytest.fixture(autouse=True)
def offline_identity_provider(monkeypatch):
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", lambda self, request, **kw: _answer(request))
