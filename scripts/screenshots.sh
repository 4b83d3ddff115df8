#!/usr/bin/env bash
# Retakes the screenshots in docs/screenshots (shown in the README): they are taken by the app's end-to-end tests
# (tests/e2e), on the real app in a real webview, on a fresh local stack with the virtual card.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" PATH="$HOME/.cargo/bin:$PATH"
export CAREKIOSK_SCREENSHOTS="$PWD/docs/screenshots"
(cd ui && npm run --silent build)
bash scripts/pcscd.sh start >&2
# The vpcd readers are shared with the other card tests: hold their lock (-o: not passed on to a pcscd a test
# might start, which would keep it for ever).
flock -o /tmp/carekiosk-vpcd.lock xvfb-run -a bash scripts/with-keyring.sh cargo test -p carekiosk-app --test e2e
rm -f docs/screenshots/failure.png
ls docs/screenshots
