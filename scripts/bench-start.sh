#!/usr/bin/env bash
# The app's cold start, as a kiosk sees it after a reboot: from starting `carekiosk-app` to its first screen (the
# screen's first question to the shell, which the app logs), median of several starts; and the package's size.
#
#   bash scripts/bench-start.sh                       # the installed app (/usr/bin/carekiosk-app), 7 starts
#   bash scripts/bench-start.sh path/to/app.deb 5     # also the .deb's size; the app from the installed package
#
# No chain is needed: the desk opens its start screen whether or not the node answers. Runs under Xvfb and a
# throwaway keyring when there is no desktop session. Prints figures (docs/benchmarks.md has them), asserts none.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BENCH_START_INNER:-}" ]; then
  export BENCH_START_INNER=1
  exec xvfb-run -a bash scripts/with-keyring.sh bash scripts/bench-start.sh "$@"
fi
deb="${1:-}"
runs="${2:-7}"
app=/usr/bin/carekiosk-app
if [ -n "$deb" ]; then
  size=$(stat -c %s "$deb")
  installed=$(dpkg-deb -f "$deb" Installed-Size)
  awk -v n="$(basename "$deb")" -v s="$size" -v i="$installed" \
    'BEGIN { printf "package   %s: %.1f MB (.deb), %.1f MB installed\n", n, s / 1e6, i / 1e3 }'
fi
[ -x "$app" ] || { echo "bench-start.sh: $app is not installed (dpkg -i the package first)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
times=()
# Cold as after a reboot: the page cache dropped before each start (root only); otherwise the starts are warm.
cold=0
if [ -w /proc/sys/vm/drop_caches ]; then cold=1; else echo "not root: warm starts (the page cache is kept)"; fi
for i in $(seq "$runs"); do
  log="$tmp/run-$i.log"
  if [ "$cold" = 1 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
  start=$(date +%s%N)
  CAREKIOSK_LOG=info "$app" --role reception --windowed --reader "no reader here" --data-dir "$tmp/data" --manifest "$tmp/none.json" \
    >"$log" 2>&1 &
  pid=$!
  shown=""
  for _ in $(seq 600); do
    if grep -q 'first screen' "$log"; then shown=$(date +%s%N); break; fi
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$shown" ] || { echo "bench-start.sh: start $i showed no first screen in 30 s:" >&2; tail -5 "$log" >&2; exit 1; }
  ms=$(( (shown - start) / 1000000 ))
  # The app's own figure (from its start to the screen's first question), colours stripped.
  inner=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep 'first screen' | grep -o 'ms=[0-9]*' | head -1 | cut -d= -f2 || true)
  printf 'start %d: %d ms to the first screen (%s ms after the app process began)\n' "$i" "$ms" "$inner"
  times+=("$ms")
  sleep 0.5
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted")
printf '%s start to the first screen: median %d ms of %d starts (min %d, max %d)\n' \
  "$([ "$cold" = 1 ] && echo cold || echo warm)" "$median" "$runs" \
  "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")"
