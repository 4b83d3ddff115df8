#!/usr/bin/env bash
# Installs what carekiosk needs on a Debian machine (as root), idempotently: system packages from apt, the chain
# toolchain (anvil, forge, solcjs, OpenZeppelin) and the app's front-end toolchain (Vite, Vitest, ESLint, the Tauri
# CLI) from npm, tauri-driver from crates.io. Rust (cargo ≥ 1.94) must already be there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# Build: C toolchain, OpenSSL (SQLCipher's crypto), pcsc-lite. Run and test: pcscd with vpcd (virtual reader),
# a Secret Service (gnome-keyring) on D-Bus. The app: WebKitGTK and GTK (Tauri), its WebDriver and an X server for
# the end-to-end tests, `file` for the Debian bundler. Printing: the CUPS client (`lp`), and the scheduler the tests
# start privately with a printer that writes to a folder. systemd: the package's user unit is tested under a user
# manager of the test's own.
APT_PACKAGES=(build-essential pkg-config ca-certificates nodejs npm libssl-dev pcscd libpcsclite-dev vsmartcard-vpcd
  gnome-keyring dbus dbus-x11 libsecret-tools
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev file
  webkit2gtk-driver xvfb xauth python3 python3-venv cups-client cups-daemon systemd)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
# node/npm may come from elsewhere than Debian (e.g. a newer node on PATH): don't fight it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing packages: ${missing[*]} — run this script as root (or: sudo apt-get install ${missing[*]})"; exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  say "cargo is missing: install Rust ≥ 1.94 (https://rustup.rs), then run this again"; exit 1
fi

# The chain toolchain from npm (no binary downloads: anvil/forge ship inside the npm packages).
if [ ! -x contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] \
   || [ contracts/package.json -nt contracts/node_modules/.package-lock.json ]; then
  say "installing the chain toolchain (npm)"
  (cd contracts && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The app's front end (npm install: `npm ci` fails on a lockfile that lacks the platform packages this registry does not carry).
if [ ! -x ui/node_modules/.bin/vite ] || [ ui/package.json -nt ui/node_modules/.package-lock.json ]; then
  say "installing the app's front-end toolchain (npm)"
  (cd ui && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The independent FHIR R4 validator the tests use (tests/fhir/validate.py): fhir.resources 6.4.0 (FHIR 4.0.1) from
# PyPI in its own venv (tests/fhir/.venv, not committed), pinned.
FHIR_VENV=tests/fhir/.venv
if ! "$FHIR_VENV/bin/python" -c 'import fhir.resources' 2>/dev/null; then
  say "installing the FHIR R4 validator (PyPI: fhir.resources 6.4.0)"
  python3 -m venv "$FHIR_VENV"
  "$FHIR_VENV/bin/pip" install --quiet --disable-pip-version-check "fhir.resources==6.4.0" "pydantic==1.10.27"
fi

# tauri-driver, the WebDriver bridge the app's end-to-end tests use (a 3.0 alpha exists: pin 2.x).
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tauri-driver >/dev/null; then
  say "installing tauri-driver 2 (cargo install, a few minutes)"
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/tauri-driver" \
    cargo install tauri-driver --version '^2' --locked --quiet
fi
say "ready"
