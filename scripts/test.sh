#!/usr/bin/env bash
# The README's test command: sets up, then runs every check CI runs: formatting, clippy (warnings are errors),
# contract artifacts freshness, the Solidity tests (forge), Slither, the app's front end (lint, unit tests), the Rust
# tests (unit and end-to-end on a real Anvil, through the real pcscd with our virtual card, with a real OS keyring,
# the app in a real webview), and the app's Debian package, installed and set up through its first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
FORGE=contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# The tests drive the CLI's virtual card (`up --virtual-card`, `demo`): its `demo` feature, which the package's CLI
# is built without (checked by scripts/package.sh).
demo=(--features carekiosk-cli/demo)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "contracts: build and check the committed artifacts are fresh"
(cd contracts && "../$FORGE" build --quiet && node tools/export-artifacts.js --check)

step "contracts: forge test"
(cd contracts && "../$FORGE" test)

step "contracts: slither (no unexplained high/medium finding)"
bash scripts/slither.sh

step "app front end: eslint, tsc, vitest, build (ui/ → dist/, which the app embeds)"
(cd ui && npm run --silent lint && npm run --silent test && npm run --silent build)

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets "${demo[@]}" -q -- -D warnings
cargo clippy -p carekiosk-cli --all-targets -q -- -D warnings # and the package's build, without the virtual card

step "cargo test (real Anvil, real pcscd with the virtual card, real Secret Service, real SQLite files, the app in a real webview)"
# pcscd for the card tests; stopped again only if this script started it.
bash scripts/pcscd.sh start
trap 'bash scripts/pcscd.sh stop >/dev/null 2>&1 || true' EXIT
# A private D-Bus session with an unlocked gnome-keyring, for the wallet and the kiosks.
# An X display (Xvfb) for the app's WebDriver tests (tests/e2e).
export PATH="$HOME/.cargo/bin:$PATH"
# Every test built first (no reader needed), then run holding the readers' lock: a load run on this machine
# (scripts/load.sh takes the same lock) finishes before the card tests use the readers. -o: nothing started
# inside (pcscd) inherits the lock.
cargo test --workspace "${demo[@]}" --no-run -q
flock -o /tmp/carekiosk-reader.lock xvfb-run -a bash scripts/with-keyring.sh cargo test --workspace "${demo[@]}"

step "load, faults and privacy, bounded: 300 whole visits from 8 kiosk processes with every fault, checker, scanner"
# Its own keyring session and reader lock; scripts/load.sh --full for the full run (docs/benchmarks.md).
bash scripts/load.sh --bounded

step "tauri build: the app's Debian package (debug profile, reusing the test build)"
deb=$(bash scripts/package.sh --debug | tail -1)

step "the package installed with dpkg, as a hospital's IT would: its app set up on the first run, enrolled with its CLI; its systemd user unit starting the app again when it dies, the outbox resuming"
sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" dpkg -i "$deb" >/dev/null
bash scripts/pcscd.sh start
flock -o /tmp/carekiosk-reader.lock xvfb-run -a bash scripts/with-keyring.sh \
  cargo test --workspace "${demo[@]}" --test e2e -- --ignored the_installed_package
