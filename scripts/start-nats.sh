#!/usr/bin/env bash
# Starts nats-server with JetStream (nats.conf) in the background; the store
# lives under $IGENTAI_DATA_DIR/nats. Port: $NATS_PORT (4222).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_nats_server
if running nats; then
  say "nats-server already running (pid $(cat "$IGENTAI_RUN_DIR/nats.pid"))"
  exit 0
fi
mkdir -p "$IGENTAI_DATA_DIR/nats"
export IGENTAI_NATS_STORE_DIR="$IGENTAI_DATA_DIR/nats"
start_bg nats nats-server -c "$IGENTAI_ROOT/nats.conf" -p "$NATS_PORT" -m "$NATS_MONITOR_PORT"
wait_port "$NATS_PORT" nats-server
say "nats-server on $NATS_URL (monitoring http://127.0.0.1:$NATS_MONITOR_PORT), log $IGENTAI_RUN_DIR/nats.log"
