"""Drives the Python reference's LibsecretPersistence (msal-extensions 1.3.1)
for the Rust interop tests.

usage: libsecret_peer.py OP SIGNAL_PATH [--schema S] [--attr K=V]... [--label L] [FILE]
  schema          print the schema name the reference derives from SIGNAL_PATH
  save FILE       save FILE's content (UTF-8) through LibsecretPersistence
  load            print the loaded content to stdout, exactly; exit 3 if not found
"""
import argparse
import sys

from msal_extensions import persistence


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["schema", "save", "load"])
    ap.add_argument("signal")
    ap.add_argument("file", nargs="?")
    ap.add_argument("--schema")
    ap.add_argument("--attr", action="append", default=[])
    ap.add_argument("--label")
    a = ap.parse_intermixed_args()
    if a.op == "schema":
        # The reference's private helper, called on the path exactly as given.
        print(persistence._auto_hash(a.signal))  # pylint: disable=protected-access
        return 0
    kwargs = {"label": a.label} if a.label is not None else {}
    attrs = dict(kv.split("=", 1) for kv in a.attr) or None
    p = persistence.LibsecretPersistence(a.signal, schema_name=a.schema, attributes=attrs, **kwargs)
    if a.op == "save":
        with open(a.file, encoding="utf-8") as f:
            p.save(f.read())
        return 0
    try:
        data = p.load()
    except persistence.PersistenceNotFound:
        return 3
    sys.stdout.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
