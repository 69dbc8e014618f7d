#!/usr/bin/env bash
# Headless Chromium for the report tests (tests/test_html_report.py): Debian's `chromium`, installed when missing
# and this is root with apt-get; otherwise says why and exits 1 (the browser tests then skip, naming the reason).
# Idempotent: nothing happens where a chromium is on PATH.
set -euo pipefail
for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null; then
        echo "install-chromium: $name is there ($("$name" --version 2>/dev/null || echo 'version unknown'))" >&2
        exit 0
    fi
done
[ "$(id -u)" = 0 ] || { echo "install-chromium: no chromium and not root: cannot apt-get install chromium" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "install-chromium: no chromium and no apt-get here" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
apt-get install -y -q --no-install-recommends chromium >"$log" 2>&1 \
    || { apt-get update -q >>"$log" 2>&1 && apt-get install -y -q --no-install-recommends chromium >>"$log" 2>&1; } \
    || { echo "install-chromium: apt-get install chromium failed:" >&2; tail -5 "$log" >&2; exit 1; }
echo "install-chromium: $(chromium --version 2>/dev/null)" >&2
