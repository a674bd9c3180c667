"""msal-extensions-rs: Microsoft's ``msal_extensions`` API on a Rust core.

Installing this distribution makes ``import msal_extensions`` load the
Rust-backed package (``msal_extensions_rs/msal_extensions``) in every Python
program of the environment, Azure CLI and Azure Identity included, while
Microsoft's ``msal-extensions`` distribution stays installed and untouched
beside it (those programs require it, so pip keeps it).

The switch is the one-line ``msal_extensions_rs.pth`` in site-packages, which
runs :func:`activate` at interpreter start-up:

- off for one process:  ``MSAL_EXTENSIONS_RS=off python ...``
- off for good:         ``pip uninstall msal-extensions-rs``
- which one is active:  ``python -m msal_extensions_rs``

This module is imported by every interpreter start in the environment, so
it imports nothing beyond ``os`` and ``sys`` (already loaded by then).
"""
import os
import sys

__version__ = "0.1.0"

#: Set to ``0``, ``off``, ``false`` or ``no`` to load Microsoft's package instead.
ENV = "MSAL_EXTENSIONS_RS"
_OFF = ("0", "off", "false", "no")
_HERE = os.path.dirname(__file__)


class _Finder:
    """A meta-path finder for exactly one name, ``msal_extensions``, which it
    finds in this package's folder, ahead of site-packages."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "msal_extensions":
            return None
        from importlib.machinery import PathFinder  # already loaded by the import system

        return PathFinder.find_spec(name, [_HERE])


def enabled():
    """``True`` unless ``MSAL_EXTENSIONS_RS`` switches the package off."""
    return os.environ.get(ENV, "").strip().lower() not in _OFF


def active():
    """``True`` when ``import msal_extensions`` resolves to this package."""
    return _Finder in sys.meta_path


def activate():
    """Routes ``import msal_extensions`` to this package (idempotent); a no-op
    when switched off by the environment. Called by ``msal_extensions_rs.pth``."""
    if enabled() and not active():
        sys.meta_path.insert(0, _Finder)
