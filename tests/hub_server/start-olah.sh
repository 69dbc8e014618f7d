#!/usr/bin/env bash
# A real Hub-compatible server on this machine for the tests marked `hub_server` (tests/test_hub_server.py): olah, a
# self-hosted Hugging Face mirror (PyPI, MIT), serving git repositories under its mirrors path, offline.
#
#   tests/hub_server/start-olah.sh [start]   install olah into its own venv if missing, start it, wait until it answers
#   tests/hub_server/start-olah.sh stop      stop the server this script started
#   tests/hub_server/start-olah.sh status    exit 0 when the recorded server answers, 1 otherwise
#
# olah 0.5.4 needs huggingface_hub >= 1.27, which the project's transformers cannot take, so it lives in its own venv
# ($ADAPTERX_OLAH_VENV, default ~/.cache/adapterx/olah-venv; reused across runs). State (configs.toml, the mirrors
# path, the log, the pid) lives in $ADAPTERX_HUB_SERVER_DIR (default /tmp/adapterx-hub-server). With
# ADAPTERX_OLAH_INSTALL=0 a missing venv is an error instead of a pip install (the tests start it that way). The tests read
# $ADAPTERX_HUB_SERVER_DIR/server.json: {"endpoint": "http://127.0.0.1:PORT", "mirrors": ".../mirrors", "pid": N}.
# Loopback only: the server binds 127.0.0.1 and is started with [accessibility] offline = true (it never reaches
# huggingface.co).
set -euo pipefail

STATE=${ADAPTERX_HUB_SERVER_DIR:-/tmp/adapterx-hub-server}
VENV=${ADAPTERX_OLAH_VENV:-$HOME/.cache/adapterx/olah-venv}
OLAH_VERSION=0.5.4
PY=${PYTHON:-python3}

say() { echo "start-olah: $*" >&2; }
die() { say "$*"; exit 1; }

install_olah() {
    if [ -x "$VENV/bin/olah-cli" ] && "$VENV/bin/python" -c "import olah" 2>/dev/null; then
        return 0
    fi
    [ "${ADAPTERX_OLAH_INSTALL:-1}" = 1 ] || die "olah is not installed in $VENV (ADAPTERX_OLAH_INSTALL=0: not installing)"
    say "installing olah==$OLAH_VERSION into $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV" || die "cannot create a venv at $VENV with $PY"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "olah==$OLAH_VERSION" >"$STATE/install.log" 2>&1 \
        || { rm -rf "$VENV"; die "pip install olah==$OLAH_VERSION failed (see $STATE/install.log)"; }
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

answers() {  # answers URL: the server lists the refs of a repository (404 for an unknown one is an answer too)
    "$PY" - "$1" <<'PYEOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/api/models/adapterx-probe/none/refs", timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PYEOF
}

running() { [ -f "$STATE/olah.pid" ] && kill -0 "$(cat "$STATE/olah.pid")" 2>/dev/null; }

endpoint() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$STATE/server.json"; }

start() {
    mkdir -p "$STATE"
    if running && [ -f "$STATE/server.json" ] && answers "$(endpoint)"; then
        say "already running at $(endpoint)"
        return 0
    fi
    install_olah
    local port
    port=$(free_port)
    mkdir -p "$STATE/mirrors/models" "$STATE/repos"
    cat >"$STATE/configs.toml" <<TOML
[basic]
host = "127.0.0.1"
port = $port
ssl-key = ""
ssl-cert = ""
repos-path = "$STATE/repos"
cache-size-limit = ""
cache-clean-strategy = "LRU"
hf-scheme = "https"
hf-netloc = "huggingface.co"
hf-lfs-netloc = "cdn-lfs.huggingface.co"
mirror-scheme = "http"
mirror-netloc = "127.0.0.1:$port"
mirror-lfs-netloc = "127.0.0.1:$port"
mirrors-path = ["$STATE/mirrors"]

[accessibility]
offline = true
TOML
    # Started in a session of its own, detached from this shell; the pid recorded is olah's own (stop kills it).
    "$PY" - "$VENV/bin/olah-cli" "$STATE" <<'PYEOF' >"$STATE/olah.pid"
import subprocess, sys
cli, state = sys.argv[1], sys.argv[2]
with open(f"{state}/olah.log", "ab") as log:
    proc = subprocess.Popen([cli, "-c", f"{state}/configs.toml"], cwd=state, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
print(proc.pid)
PYEOF
    for _ in $(seq 150); do
        answers "http://127.0.0.1:$port" && break
        running || die "olah exited at start (see $STATE/olah.log)"
        sleep 0.2
    done
    answers "http://127.0.0.1:$port" || die "olah does not answer on 127.0.0.1:$port after 30 s (see $STATE/olah.log)"
    printf '{"endpoint": "http://127.0.0.1:%s", "mirrors": "%s", "pid": %s}\n' "$port" "$STATE/mirrors" \
        "$(cat "$STATE/olah.pid")" >"$STATE/server.json.tmp"
    mv "$STATE/server.json.tmp" "$STATE/server.json"
    say "olah answers at http://127.0.0.1:$port (mirrors: $STATE/mirrors)"
}

stop() {
    if running; then
        kill "$(cat "$STATE/olah.pid")" 2>/dev/null || true
        for _ in $(seq 50); do running || break; sleep 0.1; done
        running && kill -9 "$(cat "$STATE/olah.pid")" 2>/dev/null || true
    fi
    rm -f "$STATE/olah.pid" "$STATE/server.json"
    say "stopped"
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    status) running && [ -f "$STATE/server.json" ] && answers "$(endpoint)" ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
