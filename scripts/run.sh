#!/usr/bin/env bash
# The README's run command: sets up, builds, and starts carekiosk on the embedded default profile — a local
# Anvil with the contracts deployed, the demo institutions registered with this machine's kiosk keys (OS
# keyring), and a virtual patient card in the reader (pcscd + vpcd). Extra arguments go to `carekiosk up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q -p carekiosk-cli
bash crates/card-sim/tests/pcscd.sh start >&2
up=("$CARGO_TARGET_DIR/debug/carekiosk" up --kiosks --virtual-card "$@")
# A desktop session has its Secret Service; a bare server gets a private, throwaway keyring for this run.
if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then exec "${up[@]}"; fi
echo "no desktop session: using a throwaway OS keyring for this run" >&2
exec bash crates/wallet/tests/with-keyring.sh "${up[@]}"
