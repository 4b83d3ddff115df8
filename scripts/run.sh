#!/usr/bin/env bash
# The README's run command: sets up, builds, and starts carekiosk on the embedded default profile (a local
# Anvil with everything deployed). Extra arguments go to `carekiosk up` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build -q -p carekiosk-cli
exec "$CARGO_TARGET_DIR/debug/carekiosk" up "$@"
