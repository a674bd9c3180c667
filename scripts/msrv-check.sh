#!/usr/bin/env bash
# Checks the stated MSRV (workspace `rust-version`) without a second toolchain
# (none can be installed here):
#   1. our code: clippy's `incompatible_msrv` lint (enabled in Cargo.toml, run
#      with -D warnings by .ci/run) rejects std APIs newer than rust-version;
#   2. edition 2024 needs >= 1.85, which rust-version must not undercut;
#   3. every dependency in Cargo.lock (normal, build and dev) declares a
#      rust-version no newer than ours.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
ws = set(meta["workspace_members"])
def v(s): return tuple(int(x) for x in (s or "0").split(".")[:3]) + (0,) * (3 - len((s or "0").split(".")[:3]))
msrv = max(v(p["rust_version"]) for p in meta["packages"] if p["id"] in ws)
bad, seen = [], 0
for p in meta["packages"]:
    if p["id"] in ws:
        if p["edition"] == "2024" and v(p["rust_version"]) < (1, 85, 0):
            bad.append("%s: edition 2024 needs rust-version >= 1.85" % p["name"])
        continue
    seen += 1
    if v(p.get("rust_version")) > msrv:
        bad.append("%s %s needs Rust %s" % (p["name"], p["version"], p["rust_version"]))
print("MSRV %s: %d dependencies checked" % (".".join(map(str, msrv)), seen))
if bad:
    print("newer than the MSRV:\n  " + "\n  ".join(bad)); sys.exit(1)
print("all dependencies build with the stated MSRV")
'
