#!/usr/bin/env bash
# Load, faults and privacy: whole visits from many kiosk processes against one Anvil mining a block a
# second, virtual cards in 16 vpcd readers through the real pcscd, kiosk keys in a real (private) keyring, while
# faults are injected; then every kiosk's database is checked against the chain and the chain and the kiosks' logs
# are scanned for patient data, PINs and keys. Exits non-zero on any failure, loss, duplicate or privacy hit.
#
#   scripts/load.sh               # bounded (CI): 300 visits, every fault
#   scripts/load.sh --full        # on demand: 1000 visits, more faults
#   scripts/load.sh --no-faults --visits 100   # throughput only; any `carekiosk-load run` option passes through
#
# Needs root (pcscd, and one more vpcd config in /etc/reader.conf.d for 14 more readers). Holds
# /tmp/carekiosk-reader.lock while it uses the readers (it restarts pcscd, once at start and once as a fault).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
args=()
for a in "$@"; do
    case "$a" in
    --bounded) ;;
    *) args+=("$a") ;;
    esac
done
cargo build -q -p carekiosk-loadtest
bin="$CARGO_TARGET_DIR/debug/carekiosk-load"
dir="${CAREKIOSK_LOAD_DIR:-$CARGO_TARGET_DIR/carekiosk-load}"

# Seven more vpcd channels (two readers each): "Load PCD <port> 00 0s" on 35965..35978. vpcd keeps its readers in
# process-wide variables, so one copy of the driver serves one channel: each channel gets its own copy.
conf=/etc/reader.conf.d/carekiosk-load
libdir=/usr/local/lib/carekiosk-load
want=$(for i in 1 2 3 4 5 6 7; do
    p=$((35963 + 2 * i))
    printf 'FRIENDLYNAME "Load PCD %d"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s/libifdvpcd-%d.so\nCHANNELID    0x%X\n\n' \
        "$p" "$p" "$libdir" "$i" "$p"
done)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    if [ -w /etc/reader.conf.d ]; then
        mkdir -p "$libdir"
        for i in 1 2 3 4 5 6 7; do
            cp /usr/lib/pcsc/drivers/serial/libifdvpcd.so "$libdir/libifdvpcd-$i.so"
        done
        printf '%s\n' "$want" >"$conf"
    else
        echo "load.sh: cannot write $conf (not root): running with vpcd's two readers" >&2
    fi
fi

export LOAD_BIN="$bin" LOAD_DIR="$dir"
lock=/tmp/carekiosk-reader.lock
inner='
    set -euo pipefail
    # (Re)start pcscd so it loads the extra readers.
    bash scripts/pcscd.sh stop >/dev/null
    bash scripts/pcscd.sh start
    bash scripts/with-keyring.sh "$LOAD_BIN" run --dir "$LOAD_DIR" "$@"
'
# Whether the lock is leaked: a pcscd started inside someone's flocked run inherits the lock (and keeps a
# `grep` of with-keyring.sh alive with it) after that run ended; `flock`s waiting for it have it open too.
lock_leaked() {
    local p found=1
    for p in /proc/[0-9]*; do
        if ls -l "$p/fd" 2>/dev/null | grep -q "$lock"; then
            case "$(cat "$p/comm" 2>/dev/null)" in
            pcscd) found=0 ;;
            grep | flock) ;;
            *) return 1 ;;
            esac
        fi
    done
    return $found
}
# Whether a process that started this script holds the lock (scripts/test.sh run under `flock`, as .ci/run does):
# then the readers are ours already.
lock_held_by_caller() {
    local p=$$ parent
    while [ "$p" -gt 1 ]; do
        if ls -l "/proc/$p/fd" 2>/dev/null | grep -q "$lock"; then
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = flock ] && return 0
        fi
        parent=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || echo 1)
        [ "$parent" = "$p" ] && break
        p=$parent
    done
    return 1
}
if lock_held_by_caller; then
    exec bash -c "$inner" load "${args[@]}"
fi
# -o: the pcscd started inside must not inherit the lock.
while :; do
    rc=0
    flock -o -w 10 -E 75 "$lock" bash -c "$inner" load "${args[@]}" || rc=$?
    if [ "$rc" != 75 ]; then
        exit "$rc"
    fi
    if lock_leaked; then
        echo "load.sh: the reader lock is held only by an idle pcscd (leaked by a flocked run): stopping that pcscd" >&2
        bash scripts/pcscd.sh stop
    else
        echo "load.sh: waiting for the card readers (another run holds $lock)" >&2
    fi
done
