#!/usr/bin/env bash
# Installs what carekiosk needs on a Debian machine (as root), idempotently: system packages from apt, the chain
# toolchain (anvil, forge, solcjs, OpenZeppelin) from npm. Rust (cargo ≥ 1.94) must already be there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# Build: C toolchain, OpenSSL (SQLCipher's crypto), pcsc-lite. Run and test: pcscd with vpcd (virtual reader),
# a Secret Service (gnome-keyring) on D-Bus.
APT_PACKAGES=(build-essential pkg-config ca-certificates nodejs npm libssl-dev pcscd libpcsclite-dev vsmartcard-vpcd
  gnome-keyring dbus dbus-x11 libsecret-tools)
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
say "ready"
