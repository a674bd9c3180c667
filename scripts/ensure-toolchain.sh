# Sourced by the scripts: makes sure cargo is on PATH. The machine's rustup
# toolchain is used when present; on a fresh Debian 12 without one, Debian's
# current toolchain (rustc-web / cargo-web, bookworm-security) is installed.
ensure_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
        return 0
    fi
    echo "no cargo on PATH: installing Debian's rustc-web toolchain" >&2
    . "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
    apt_install rustc-web cargo-web gcc libc6-dev
}
