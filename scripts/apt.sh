# Sourced by the scripts that need Debian packages.
#   apt_install PKG...   installs the packages not installed yet (as root, or
#                        through passwordless sudo), one apt at a time on the
#                        machine (flock), quietly, with progress on stderr.
apt_install() {
    local need=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    [ "${#need[@]}" -eq 0 ] && return 0
    echo "apt: installing ${need[*]}" >&2
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $sudo flock /tmp/apt-install.lock apt-get update -qq </dev/null >&2 &&
        $sudo flock /tmp/apt-install.lock apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >&2
}
