#!/usr/bin/env bash
# Runs a command with a real, unlocked Secret Service (gnome-keyring) in a private D-Bus session, with HOME and
# XDG_RUNTIME_DIR in a temp dir that is removed afterwards. For the wallet tests:
#
#   scripts/with-keyring.sh cargo test -p carekiosk-wallet
#
# Needs (Debian): apt-get install -y gnome-keyring dbus libsecret-tools dbus-x11
# Exit status: the command's; 127 if a tool is missing; 1 if the keyring does not come up.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 <command> [args…]" >&2
    exit 2
fi

if [ -z "${CAREKIOSK_KEYRING_SESSION:-}" ]; then
    for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
        if ! command -v "$tool" >/dev/null; then
            echo "with-keyring.sh: $tool not found: apt-get install -y gnome-keyring dbus libsecret-tools dbus-x11" >&2
            exit 127
        fi
    done
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/carekiosk-keyring.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    mkdir -m 700 "$tmp/home" "$tmp/run"
    # Keep cargo and rustup where they are while HOME moves.
    export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
    export CAREKIOSK_KEYRING_SESSION=1
    status=0
    # dbus-daemon warns that it may not raise its fd limit when not privileged enough: harmless, filtered.
    HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" dbus-run-session -- bash "$0" "$@" \
        2> >(grep -v --line-buffered 'Failed to set fd limit' >&2) || status=$?
    exit "$status"
fi

# Inside the session: create and unlock the login keyring with a throwaway password. The daemon registers
# org.freedesktop.secrets on this session bus and exits with it.
printf '%s' "carekiosk-test-$$" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
for _ in $(seq 1 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
        break
    fi
    sleep 0.05
done
if ! dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    echo "with-keyring.sh: gnome-keyring-daemon did not register the Secret Service on the session bus" >&2
    exit 1
fi
# Where gnome-keyring keeps its (encrypted) files, so the tests can check that no key lands there in clear.
export CAREKIOSK_TEST_KEYRING_DIR="$HOME/.local/share/keyrings"
"$@"
