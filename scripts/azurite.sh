#!/usr/bin/env bash
# Start / stop a local Azurite Table service for tests and `amlguard serve` against Table storage.
#   scripts/azurite.sh start [PORT]   install (npm ci) if needed, start in the background, print the settings
#   scripts/azurite.sh stop           stop the instance this script started
#   scripts/azurite.sh status
# The pytest fixture (tests/azurite.py) starts its own instance; export the printed
# AMLGUARD_TEST_AZURITE_TABLE to make the tests reuse this one instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.azurite"
PIDFILE="$DIR/table.pid"
BIN="$ROOT/node_modules/.bin/azurite-table"
# Azurite's published development-account key lives in tests/ only; read it from there.
KEY="$(sed -n 's/^DEV_KEY = "\(.*\)"$/\1/p' "$ROOT/tests/azurite.py")"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    PORT="${2:-10002}"
    if running; then echo "azurite-table already running (pid $(cat "$PIDFILE"))"; exit 0; fi
    if [[ ! -x "$BIN" ]]; then
      command -v npm >/dev/null || { echo "npm not found: install Node.js >= 18 (apt-get install nodejs npm)" >&2; exit 2; }
      (cd "$ROOT" && npm ci --no-audit --no-fund)
    fi
    mkdir -p "$DIR/data"
    "$BIN" --tableHost 127.0.0.1 --tablePort "$PORT" --location "$DIR/data" --skipApiVersionCheck --loose \
      --silent --disableTelemetry >"$DIR/table.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        CONN="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;TableEndpoint=http://127.0.0.1:$PORT/devstoreaccount1;"
        echo "azurite-table listening on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), log $DIR/table.log)"
        echo "export AMLGUARD_TEST_AZURITE_TABLE='$CONN'"
        echo "export AMLGUARD_STATE_BACKEND=table AMLGUARD_STATE_CONNECTION='$CONN'"
        exit 0
      fi
      sleep 0.1
    done
    echo "azurite-table did not start; see $DIR/table.log" >&2
    exit 1
    ;;
  stop)
    if running; then kill "$(cat "$PIDFILE")"; echo "stopped azurite-table (pid $(cat "$PIDFILE"))"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"))"; else echo "not running"; exit 1; fi
    ;;
  *)
    echo "usage: $0 start [PORT] | stop | status" >&2
    exit 2
    ;;
esac
