"""``python -m msal_extensions_rs``: which ``msal_extensions`` this interpreter loads."""
import importlib.util
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import msal_extensions_rs as switch


def _reference_version():
    try:
        return version("msal-extensions")
    except PackageNotFoundError:
        return None


def main():
    spec = importlib.util.find_spec("msal_extensions")
    origin = spec.origin if spec else None
    ours = bool(origin) and os.path.dirname(os.path.dirname(origin)) == os.path.dirname(switch.__file__)
    print("msal-extensions-rs %s (%s)" % (switch.__version__, os.path.dirname(switch.__file__)))
    print("switch: %s=%r -> %s" % (
        switch.ENV, os.environ.get(switch.ENV, ""), "on" if switch.enabled() else "off"))
    print("import msal_extensions -> %s (%s)" % (
        "msal-extensions-rs (Rust core)" if ours else ("Microsoft's msal-extensions" if origin else "nothing"),
        origin))
    ref = _reference_version()
    print("Microsoft's msal-extensions distribution: %s" % (ref or "not installed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
