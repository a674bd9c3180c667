#!/usr/bin/env bash
# Cross-target checks for the code that cannot run on this Linux host.
#
#   1. clippy -D warnings (all targets: lib, tests, examples, benches) for
#      x86_64-pc-windows-gnu, x86_64-pc-windows-msvc, aarch64-apple-darwin,
#      x86_64-apple-darwin;
#   2. under Wine (x86_64-pc-windows-gnu): builds and runs
#      scripts/xtarget/dpapi_reference_blob.c, which writes DPAPI blobs with
#      the Python reference's exact CryptProtectData call shape, then
#      `cargo test -p msal-extensions`: lib unit tests, the Windows-relevant
#      integration tests (tests/windows.rs, whose DPAPI test reads those blobs,
#      the conformance suite, whose DPAPI line runs here, plus the portable
#      persisted.rs and token_cache.rs) and the doctests, ignored tests
#      included (the reference-blob test is #[ignore]d in a plain cargo test).
#
# What it proves and does not: see docs/platforms.md. macOS and MSVC are
# compiled and linted only (no Apple SDK, no link.exe here).
#
# Usage: scripts/cross-target.sh [clippy|wine|all]     (default: all)
# Env:
#   CI=true          a missing Wine or toolchain is a failure, not a loud skip
#   XTARGET_DIR      cargo target dir (default: <repo>/target/xtarget), kept
#                    apart so the Debian toolchain and rustup's stable do not
#                    evict each other's build cache
#   WINEPREFIX       (default: $XTARGET_DIR/wineprefix)
#   XTARGET_JOBS     cargo -j (default: cargo's own)
#   XTARGET_WINE     the wine binary (default: wine)
#   XTARGET_WINE_TESTS  integration tests run under Wine
#                    (default: "windows conformance persisted token_cache"; the others are
#                    Unix-only, need Python peers, or are platform-neutral logic)
#
# How: rustup cannot add targets here, so this uses Debian's rustc-web
# toolchain (registered in rustup as "debian-web") with its own std source,
# rebuilding std per target with -Zbuild-std. RUSTC_BOOTSTRAP=1 (set only
# inside this script) unlocks -Z on that stable compiler. Compiler and std
# source must be the same version, which is checked.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODE=${1:-all}
TC=debian-web
XTARGET_DIR=${XTARGET_DIR:-$ROOT/target/xtarget}
export WINEPREFIX=${WINEPREFIX:-$XTARGET_DIR/wineprefix}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono/Gecko install dialogs when headless
export RUSTC_BOOTSTRAP=1
WINE=${XTARGET_WINE:-wine}
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$WINE
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
WIN=x86_64-pc-windows-gnu
TARGETS=(x86_64-pc-windows-gnu x86_64-pc-windows-msvc aarch64-apple-darwin x86_64-apple-darwin)
BUILD_STD=(-Zbuild-std=std,panic_abort)
JOBS=(); [ -n "${XTARGET_JOBS:-}" ] && JOBS=(-j "$XTARGET_JOBS")
XC=(cargo +"$TC")
T0=$(date +%s)

log() { echo "cross-target: $*" >&2; }
step() { echo; echo "=== $* (+$(( $(date +%s) - T0 )) s)"; }
in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }
# A missing prerequisite: fatal in CI, a loud skip elsewhere.
missing() {
    if in_ci; then log "FAIL (CI=true): $*"; exit 1; fi
    echo; echo "!!!!!!!! SKIPPED: $* !!!!!!!!"; echo
}

. "$ROOT/scripts/apt.sh"

# ------------------------------------------------------------ toolchain
step "toolchain"
# rustc-web, cargo-web, rust-web-clippy and rust-web-src come from bookworm-security, same version.
apt_install rustc-web cargo-web rust-web-clippy rust-web-src gcc-mingw-w64-x86-64 \
    || missing "could not install the Debian cross toolchain packages"
if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/cargo-clippy ]; then
    missing "Debian's rustc-web toolchain (/usr/bin/rustc, cargo-clippy)"; exit 0
fi
RV=$(/usr/bin/rustc -V | cut -d' ' -f2)
SRC=$(readlink -f /usr/lib/rustlib/src/rust || true)
if [ "$SRC" != "/usr/src/rustc-$RV" ] || [ ! -f "$SRC/library/std/Cargo.toml" ]; then
    log "rustc $RV does not match the std source at '$SRC' (core fails to build with a mismatch)"; exit 1
fi
rustup toolchain link "$TC" /usr    # idempotent
"${XC[@]}" -V

# ------------------------------------------------------------ 1. clippy per target
if [ "$MODE" = all ] || [ "$MODE" = clippy ]; then
    for T in "${TARGETS[@]}"; do
        step "clippy --target $T"
        # ring (rustls' crypto, under msal-client) compiles C for its target: mingw
        # does it for windows-gnu, but MSVC and Apple targets need their own C
        # toolchains, absent here, so those targets lint the workspace without it.
        # --no-default-features: msal-cache's `redis` command (ring again, and
        # the Redis client) is platform-neutral code, linted on Linux.
        EXCLUDE=(); [ "$T" = "$WIN" ] || EXCLUDE=(--exclude msal-client --exclude msal-test-idp)
        "${XC[@]}" clippy "${BUILD_STD[@]}" "${JOBS[@]}" --locked --target "$T" --target-dir "$XTARGET_DIR" \
            --workspace "${EXCLUDE[@]}" --no-default-features --all-targets -- -D warnings
    done
fi

[ "$MODE" = all ] || [ "$MODE" = wine ] || exit 0

# ------------------------------------------------------------ 2. Wine
step "wine"
apt_install wine wine64 || true
if ! command -v "$WINE" >/dev/null || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    missing "Wine or mingw-w64 is not installed: the Windows code was linted but not run"; exit 0
fi
"$WINE" --version
SHIM=$XTARGET_DIR/shim
mkdir -p "$SHIM" "$XTARGET_DIR/dpapi-reference"
# Rust std (>= 1.78) imports ProcessPrng from bcryptprimitives.dll, which Wine 8
# lacks (tests would die at load with exit 53). This one-function DLL provides
# it on top of RtlGenRandom (advapi32's SystemFunction036). Not needed on Windows.
cat > "$SHIM/bcryptprimitives.c" <<'EOF'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    for (; length > 0;) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
EOF
x86_64-w64-mingw32-gcc -O2 -shared -s -o "$SHIM/bcryptprimitives.dll" "$SHIM/bcryptprimitives.c" -ladvapi32
if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
    log "creating the Wine prefix $WINEPREFIX (about a minute, once)"
    wineboot --init >/dev/null 2>&1
fi
cp "$SHIM/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

step "reference-call-shape DPAPI blobs"
REF=$XTARGET_DIR/dpapi-reference
rm -f "$REF"/*.bin
x86_64-w64-mingw32-gcc -O2 -Wall -Werror -o "$REF/dpapi_reference_blob.exe" \
    scripts/xtarget/dpapi_reference_blob.c -lcrypt32
"$WINE" "$REF/dpapi_reference_blob.exe" "$(winepath -w "$REF")"
export MSALX_DPAPI_REFERENCE_DIR=$REF   # a Unix absolute path is valid on Wine's Z: drive

TESTS=()
for t in ${XTARGET_WINE_TESTS:-windows conformance persisted token_cache}; do TESTS+=(--test "$t"); done
step "cargo test --target $WIN (lib, ${TESTS[*]}) under Wine"
"${XC[@]}" test "${BUILD_STD[@]}" "${JOBS[@]}" --locked --target "$WIN" --target-dir "$XTARGET_DIR" \
    -p msal-extensions --lib "${TESTS[@]}" -- --include-ignored
step "cargo test --target $WIN --doc under Wine"
"${XC[@]}" test "${BUILD_STD[@]}" "${JOBS[@]}" --locked --target "$WIN" --target-dir "$XTARGET_DIR" \
    -p msal-extensions --doc

wineserver -w || true   # wait for this prefix's wineserver to exit on its own
step "done in $(( $(date +%s) - T0 )) s"
