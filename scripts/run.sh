#!/usr/bin/env bash
# The README's run command: sets up, builds, and opens the carekiosk app on the embedded default profile — a local
# Anvil with the contracts deployed, the demo hospital, pharmacy and insurer with this machine's kiosk keys (OS
# keyring), a virtual patient card in the reader (pcscd + vpcd) issued to a demo patient (PIN 482916) who has
# checked in, seen a doctor, been prescribed amoxicillin and been billed — so every desk has work.
#
#   bash scripts/run.sh                   # the reception desk
#   bash scripts/run.sh --role doctor     # or pharmacy, insurer
#   bash scripts/run.sh --no-app          # only the local stack (`carekiosk up`), e.g. on a server
#
# Closing the app stops the stack. Without a display the app runs on a virtual one (Xvfb) and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
role=reception
app=1
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role=${2:-}; shift 2 ;;
    --role=*) role=${1#--role=}; shift ;;
    --no-app) app=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (--role reception|doctor|pharmacy|insurer, --no-app)" >&2; exit 2 ;;
  esac
done
case "$role" in
  reception|doctor|pharmacy|insurer) ;;
  *) echo "run.sh: --role is reception, doctor, pharmacy or insurer (not '$role')" >&2; exit 2 ;;
esac

if [ -z "${CAREKIOSK_RUN_BUILT:-}" ]; then
  bash scripts/setup.sh
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
  echo "building (the first time takes a while)…" >&2
  (cd ui && npm run --silent build)
  cargo build -q -p carekiosk-cli -p carekiosk-app --features carekiosk-cli/demo # the virtual card
  bash scripts/pcscd.sh start >&2
  export CAREKIOSK_RUN_BUILT=1
  # A desktop session has its Secret Service; a bare server gets a private, throwaway keyring for this run.
  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    echo "no desktop session: using a throwaway OS keyring for this run" >&2
    again=(--role "$role")
    [ "$app" = 1 ] || again+=(--no-app)
    exec bash scripts/with-keyring.sh bash "$0" "${again[@]}"
  fi
fi
bin="$CARGO_TARGET_DIR/debug"
# This run's kiosk databases, fresh like its chain.
CAREKIOSK_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/carekiosk-run.XXXXXX")
export CAREKIOSK_DATA_DIR
manifest="$CAREKIOSK_DATA_DIR/local.json"
up=("$bin/carekiosk" up --kiosks --virtual-card --demo-patient --manifest "$manifest")

if [ "$app" = 0 ]; then exec "${up[@]}"; fi

"${up[@]}" > >(tee "$CAREKIOSK_DATA_DIR/up.log") &
up_pid=$!
trap 'kill -TERM "$up_pid" 2>/dev/null; wait "$up_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q '^ready:' "$CAREKIOSK_DATA_DIR/up.log" 2>/dev/null && break
  kill -0 "$up_pid" 2>/dev/null || { echo "run.sh: the local stack did not start (see above)" >&2; exit 1; }
  sleep 0.2
done
echo "opening the $role desk (the demo patient's card is in the reader; PIN 482916)" >&2
# A demo on a workstation: an ordinary window that closes (a desk's kiosk mode needs its staff code to close).
app_cmd=("$bin/carekiosk-app" --role "$role" --manifest "$manifest" --reader "Virtual PCD 00 00" --windowed)
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  "${app_cmd[@]}"
else
  echo "no display: the app runs on a virtual X display (Xvfb); Ctrl-C stops it" >&2
  xvfb-run -a "${app_cmd[@]}"
fi
