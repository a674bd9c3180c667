"""Stand-in for the helper module the msal-extensions 1.3.1 sdist's tests import
(``from .http_client import MinimalResponse``) but the sdist leaves out.

Written for this project from how the tests use it: a response object
carrying what MSAL reads from an ``http_client`` answer.
"""


class MinimalResponse(object):  # pylint: disable=too-few-public-methods
    def __init__(self, requests_resp=None, status_code=None, text=None, headers=None):
        self.status_code = requests_resp.status_code if status_code is None else status_code
        self.text = requests_resp.text if text is None else text
        self.headers = {} if headers is None else headers
        self._raw = requests_resp

    def raise_for_status(self):
        if self._raw is not None:
            self._raw.raise_for_status()
        elif self.status_code >= 400:
            raise RuntimeError("HTTP %d" % self.status_code)
