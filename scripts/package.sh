#!/usr/bin/env bash
# Builds the kiosk app's Debian package with `tauri build`: the front end first (ui/ → dist/), then the app.
#
#   bash scripts/package.sh            # release build (what a hospital installs): the app and the `carekiosk` CLI
#   bash scripts/package.sh --debug    # debug build, reusing the test build (what CI checks)
#
# The package lands in $CARGO_TARGET_DIR/<profile>/bundle/deb/carekiosk_<version>_amd64.deb; its path is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
profile=release
args=(build --bundles deb --ci)
if [ "${1:-}" = "--debug" ]; then profile=debug; args+=(--debug); fi
(cd ui && npm run --silent build)
# The package carries the `carekiosk` CLI too (deploy, enrol kiosks, administer): built with the same profile.
if [ "$profile" = release ]; then cargo build -q --release -p carekiosk-cli; else cargo build -q -p carekiosk-cli; fi
cli="$CARGO_TARGET_DIR/$profile/carekiosk"
args+=(--config "{\"bundle\":{\"linux\":{\"deb\":{\"files\":{\"/usr/bin/carekiosk\":\"$cli\"}}}}}")
# The Tauri CLI looks for tauri.conf.json beside a [package] Cargo.toml: point it at the app crate (its
# tauri.conf.json is a link to the one at the repository's root).
TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri "${args[@]}"
deb=$(ls -t "$CARGO_TARGET_DIR/$profile/bundle/deb/"*.deb | head -1)
dpkg-deb --info "$deb" | grep -E 'Package|Version|Depends|Recommends' >&2
# Printing goes through CUPS's `lp` when the machine has it (else documents are saved as files to print).
dpkg-deb --field "$deb" Recommends | grep -q 'cups-client' \
    || { echo "package.sh: the package does not recommend cups-client (printing)" >&2; exit 1; }
contents=$(dpkg-deb --contents "$deb")
grep -q 'usr/bin/carekiosk-app' <<<"$contents" || { echo "package.sh: the binary is not in $deb" >&2; exit 1; }
grep -q 'usr/bin/carekiosk$' <<<"$contents" || { echo "package.sh: the carekiosk CLI is not in $deb" >&2; exit 1; }
# Started at login and again if it dies: the systemd user unit (enabled for every user by the postinst) and an XDG
# autostart entry that starts it on desktops without graphical-session.target.
for f in usr/lib/systemd/user/carekiosk.service etc/xdg/autostart/carekiosk.desktop; do
    grep -q "$f\$" <<<"$contents" || { echo "package.sh: $f is not in $deb" >&2; exit 1; }
done
dpkg-deb --info "$deb" postinst | grep -q 'systemctl --global enable carekiosk.service' \
    || { echo "package.sh: the postinst does not enable the user service" >&2; exit 1; }
# The packaged CLI runs, and its --help says where configuration, data and keys live.
tmp=$(mktemp -d)
dpkg-deb -x "$deb" "$tmp"
help=$("$tmp/usr/bin/carekiosk" --help)
# Built for real readers: the card simulator of demos and tests is not in the package's CLI.
nocard=$("$tmp/usr/bin/carekiosk" up --virtual-card --no-wait 2>&1 || true)
unit=$(cat "$tmp/usr/lib/systemd/user/carekiosk.service")
rm -rf "$tmp"
grep -q 'has no virtual card' <<<"$nocard" || { echo "package.sh: the packaged CLI has the virtual card: $nocard" >&2; exit 1; }
grep -q '^Restart=on-failure' <<<"$unit" || { echo "package.sh: the user unit does not restart the app" >&2; exit 1; }
grep -q 'OS keyring' <<<"$help" || { echo "package.sh: the packaged CLI's --help does not say where keys live" >&2; exit 1; }
echo "$deb"
