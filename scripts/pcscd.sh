#!/usr/bin/env bash
# Starts (or stops) the pcscd that carekiosk's card tests talk to: the real PC/SC daemon with vpcd's two virtual
# readers, "Virtual PCD 00 00" (TCP 35963) and "Virtual PCD 00 01" (TCP 35964), where carekiosk-card-sim plugs in.
#
#   scripts/pcscd.sh start    # start pcscd unless one runs; wait until vpcd listens
#   scripts/pcscd.sh stop     # stop the pcscd this script started (and only that one)
#   scripts/pcscd.sh status
#
# Needs: Debian packages pcscd, libpcsclite-dev, vsmartcard-vpcd; root (pcscd writes /run/pcscd).
# The tests call `start` themselves when pcscd is not reachable; CI may call start/stop around them.
set -euo pipefail

cmd=${1:-start}
dir=${CAREKIOSK_PCSCD_DIR:-/tmp/carekiosk-pcscd}
pidfile=$dir/pcscd.pid
log=$dir/pcscd.log

running() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = pcscd ] && return 0
    done
    return 1
}

# vpcd listens on 35963 (0x8C7B) and 35964 (0x8C7C) once pcscd has loaded it. Checking /proc/net/tcp does not
# connect (a connection would look like a card being inserted).
vpcd_listening() {
    grep -q ':8C7B 00000000:0000 0A' /proc/net/tcp 2>/dev/null &&
        grep -q ':8C7C 00000000:0000 0A' /proc/net/tcp 2>/dev/null
}

case "$cmd" in
start)
    if ! command -v pcscd >/dev/null; then
        echo "pcscd.sh: pcscd is not installed: apt-get install -y pcscd libpcsclite-dev vsmartcard-vpcd" >&2
        exit 1
    fi
    if [ ! -e /etc/reader.conf.d/vpcd ]; then
        echo "pcscd.sh: vpcd is not installed: apt-get install -y vsmartcard-vpcd" >&2
        exit 1
    fi
    if running; then
        echo "pcscd.sh: pcscd already running"
    else
        if [ "$(id -u)" != 0 ]; then
            echo "pcscd.sh: pcscd must be started as root" >&2
            exit 1
        fi
        mkdir -p "$dir"
        setsid pcscd -f >"$log" 2>&1 </dev/null &
        echo $! >"$pidfile"
        echo "pcscd.sh: started pcscd (pid $(cat "$pidfile"), log $log)"
    fi
    for _ in $(seq 1 100); do
        if vpcd_listening; then
            echo "pcscd.sh: vpcd readers listening on 35963 and 35964"
            exit 0
        fi
        sleep 0.1
    done
    echo "pcscd.sh: vpcd is not listening after 10 s (pcscd log: $log)" >&2
    exit 1
    ;;
stop)
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pcscd ]; then
            kill "$pid"
            for _ in $(seq 1 50); do
                [ -e "/proc/$pid" ] || break
                sleep 0.1
            done
            echo "pcscd.sh: stopped pcscd (pid $pid)"
        fi
        rm -f "$pidfile"
    else
        echo "pcscd.sh: no pcscd started by this script"
    fi
    ;;
status)
    if running; then echo "pcscd running"; else echo "pcscd not running"; fi
    if vpcd_listening; then echo "vpcd listening"; else echo "vpcd not listening"; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
