#!/usr/bin/env bash
# Prometheus for tests: make sure the server binary and promtool exist, print the server's path.
#
#   docker/local/prometheus.sh install   install Debian's package if `prometheus` is missing
#                                        (apt-get; sudo only when not root); prints the path
#   docker/local/prometheus.sh path      print the path of the binary, or fail (exit 3)
#
# Tests start their own server on 127.0.0.1 (tests/support/prometheus.py): installing the
# package does not start one (there is no init system on these machines; if there is one,
# the packaged service is left as Debian sets it up and is not used by the tests).
set -euo pipefail

say() { echo "prometheus.sh: $*" >&2; }
die() { echo "prometheus.sh: error: $*" >&2; exit 1; }

find_binary() {
    command -v prometheus 2>/dev/null && return 0
    [[ -x /usr/bin/prometheus ]] && { echo /usr/bin/prometheus; return 0; }
    return 1
}

have_all() { find_binary >/dev/null && { command -v promtool >/dev/null || [[ -x /usr/bin/promtool ]]; }; }

apt() {
    if [[ "$(id -u)" == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get "$@"
    elif command -v sudo >/dev/null; then
        sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
    else
        die "Prometheus is missing and installing it needs root (no sudo found): apt-get install prometheus"
    fi
}

cmd_install() {
    if have_all; then
        find_binary
        return 0
    fi
    command -v apt-get >/dev/null || die "Prometheus is missing and apt-get is not available: install prometheus and promtool by hand"
    # A machine fresh from its image may have no package lists yet.
    if ! apt-cache show prometheus >/dev/null 2>&1; then
        say "apt-get update (package 'prometheus' not known yet)"
        apt update -q >&2 || die "apt-get update failed"
    fi
    say "installing Debian's prometheus package"
    if ! apt install -y -q --no-install-recommends prometheus >&2; then
        # Stale package lists point at files the mirror no longer has: refresh once, retry.
        say "install failed: apt-get update and one more try"
        apt update -q >&2 || die "apt-get update failed"
        apt install -y -q --no-install-recommends prometheus >&2 ||
            die "apt-get install prometheus failed"
    fi
    have_all || die "prometheus package installed but the binaries are not found"
    find_binary
}

cmd_path() {
    find_binary || { say "prometheus is not installed (run: $0 install)"; exit 3; }
}

case "${1:-}" in
    install) cmd_install ;;
    path) cmd_path ;;
    *)
        echo "usage: $0 install|path" >&2
        exit 2
        ;;
esac
