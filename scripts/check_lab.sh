#!/usr/bin/env bash
# Check that the notebooks render in JupyterLab, in a real (headless) browser. Not in CI: ~1-2 minutes.
#
#   scripts/check_lab.sh [SCREENSHOT.png]        (default docs/lab_screenshot.png)
#
# 1. executes notebooks/00_data.ipynb on the `tiny` profile (`tspsis run-notebooks --profile tiny --only 00`,
#    papermill) into a temporary folder;
# 2. starts `jupyter lab` headless on 127.0.0.1 (a free port, a random token, fresh settings/workspace, the
#    news pop-up off) serving that folder;
# 3. opens the executed notebook in headless Chromium (Debian's `chromium`; installed with apt-get when missing
#    and run as root) and saves a screenshot (256 colours); then checks the page's DOM for a rendered JupyterLab
#    notebook (its cells and the table/figure outputs) and the PNG;
# 4. stops the server and removes the temporary folder (trap, also on failure / Ctrl-C).
#
# Environment: VENV (default .venv of the repository: its python and jupyter), WINDOW (default 1280,2000: tall enough for the first table and figure),
# BUDGET_MS (Chromium's virtual-time budget for the page to load and render, default 30000), MODE (lab: the full
# JupyterLab shell; doc: its single-document mode; default lab).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
JUPYTER="$VENV/bin/jupyter"
SHOT="$(realpath -m "${1:-$REPO/docs/lab_screenshot.png}")"
WINDOW="${WINDOW:-1280,2000}"
BUDGET_MS="${BUDGET_MS:-30000}"
MODE="${MODE:-lab}"

[[ -x "$PY" && -x "$JUPYTER" ]] || { echo "check_lab: no python/jupyter in $VENV (make setup, or set VENV)" >&2; exit 2; }

if ! command -v chromium >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "check_lab: installing chromium (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
    else
        echo "check_lab: chromium not found; install it (apt-get install -y chromium)" >&2
        exit 2
    fi
fi

TMP="$(mktemp -d -t check_lab.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. the executed notebook (tiny profile)
echo "check_lab: executing notebooks/00_data.ipynb on the tiny profile"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m tspsis run-notebooks --profile tiny --only 00 \
    --out-dir "$TMP/lab" --data-root "$TMP/data" --work-dir "$TMP/work" > "$TMP/papermill.log" 2>&1 \
    || { cat "$TMP/papermill.log" >&2; echo "check_lab: the notebook failed" >&2; exit 1; }
NOTEBOOK="00_data.ipynb"
[[ -f "$TMP/lab/$NOTEBOOK" ]] || { echo "check_lab: no executed $NOTEBOOK in $TMP/lab" >&2; exit 1; }

# 2. jupyter lab, headless, fresh state
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TOKEN="$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
mkdir -p "$TMP/config/labconfig" "$TMP/settings" "$TMP/workspaces" "$TMP/runtime"
echo '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}' \
    > "$TMP/config/labconfig/page_config.json"
ROOT_FLAG=()
[[ "$(id -u)" == 0 ]] && ROOT_FLAG=(--allow-root)
JUPYTER_CONFIG_DIR="$TMP/config" JUPYTER_RUNTIME_DIR="$TMP/runtime" JUPYTERLAB_SETTINGS_DIR="$TMP/settings" \
JUPYTERLAB_WORKSPACES_DIR="$TMP/workspaces" PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" \
    "$JUPYTER" lab --no-browser "${ROOT_FLAG[@]}" --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" \
    --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$TMP/lab" \
    > "$TMP/lab.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 120); do
    "$PY" - "$PORT" "$TOKEN" <<'EOF' 2>/dev/null && break
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/status?token={sys.argv[2]}", timeout=1).read()
EOF
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/lab.log" >&2; echo "check_lab: jupyter lab exited" >&2; exit 1; }
    sleep 0.5
done
echo "check_lab: jupyter lab on 127.0.0.1:$PORT (pid $SERVER_PID)"

# 3. the notebook in headless Chromium: screenshot, then the rendered DOM
URL="http://127.0.0.1:$PORT/$MODE/tree/$NOTEBOOK?reset&token=$TOKEN"
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
        --no-first-run --user-data-dir="$TMP/chrome" --window-size="$WINDOW"
        --virtual-time-budget="$BUDGET_MS")
mkdir -p "$(dirname "$SHOT")"
"${CHROME[@]}" --screenshot="$SHOT" "$URL" > "$TMP/chrome.log" 2>&1 || { cat "$TMP/chrome.log" >&2; exit 1; }
"${CHROME[@]}" --dump-dom "$URL" > "$TMP/dom.html" 2> "$TMP/chrome-dom.log" || { cat "$TMP/chrome-dom.log" >&2; exit 1; }

"$PY" - "$SHOT" "$TMP/dom.html" <<'EOF'
import re, struct, sys

shot, dom = sys.argv[1], open(sys.argv[2], encoding="utf-8", errors="replace").read()
with open(shot, "rb") as f:
    head = f.read(24)
if head[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"check_lab: {shot} is not a PNG")
width, height = struct.unpack(">II", head[16:24])
checks = {
    "JupyterLab shell": "jp-LabShell" in dom,
    "notebook panel": "jp-NotebookPanel" in dom,
    "cells": len(re.findall(r'class="[^"]*\bjp-Cell\b', dom)) >= 3,
    "rendered markdown (title)": "Data and category splits" in dom,
    "outputs (table or figure)": "jp-OutputArea-output" in dom and ("<table" in dom or "<img" in dom),
}
for name, ok in checks.items():
    print(f"check_lab:   {'ok  ' if ok else 'FAIL'} {name}")
try:  # a UI screenshot loses nothing visible in 256 colours; ~1/3 of the bytes (the PNG is committed)
    from PIL import Image
    Image.open(shot).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(shot, optimize=True)
except ImportError:
    pass
print(f"check_lab: screenshot {shot} ({width}x{height})")
sys.exit(0 if all(checks.values()) else 1)
EOF
