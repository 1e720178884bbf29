#!/usr/bin/env bash
# Starts nats-server with JetStream (nats.conf) in the background; the store
# lives under $IGENTAI_DATA_DIR/nats. Port: $NATS_PORT (4222); monitoring on
# 127.0.0.1:$NATS_MONITOR_PORT (8222) only. Clients listen on 127.0.0.1
# unless NATS_HOST says otherwise (NATS_HOST=0.0.0.0 for workers on other
# machines).
#
# Every client must log in: the three role passwords come from the
# environment or from run/credentials.env, generated here on first run, and
# each worker has its own user (scripts/add-worker.sh); the server runs with
# run/nats.conf, nats.conf with those users rendered in (see README:
# Security).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_nats_server
if running nats; then
  say "nats-server already running (pid $(cat "$IGENTAI_RUN_DIR/nats.pid"))"
  exit 0
fi
mkdir -p "$IGENTAI_DATA_DIR/nats"
host_args=()
[ -n "${NATS_HOST:-}" ] && host_args=(-a "$NATS_HOST")
(
  # Only nats-server gets every password.
  for role in coordinator dashboard operator; do
    var="$(password_var "$role")"
    value="$(role_password "$role")" || exit 1
    export "$var=$value"
  done
  export IGENTAI_NATS_STORE_DIR="$IGENTAI_DATA_DIR/nats"
  render_nats_conf
  start_bg nats nats-server -c "$IGENTAI_RUN_DIR/nats.conf" -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" "${host_args[@]}"
)
wait_port "$NATS_PORT" nats-server
say "nats-server on $NATS_URL (monitoring http://127.0.0.1:$NATS_MONITOR_PORT), log $IGENTAI_RUN_DIR/nats.log"
say "NATS users: coordinator, dashboard, operator (passwords in $IGENTAI_CREDENTIALS) and one per worker ($IGENTAI_WORKERS_DIR; scripts/add-worker.sh adds one)"
