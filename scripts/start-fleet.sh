#!/usr/bin/env bash
# Starts N workers (default 5) in the background against $NATS_URL, logged
# in as the `worker` NATS user. Extra arguments go to every worker, e.g.
# --concurrency 8.
#
# On another machine: set NATS_URL to the server and IGENTAI_WORKER_PASSWORD
# to the worker password from the server machine's run/credentials.env.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count="${1:-5}"
shift || true
{ [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ]; } || die "usage: start-fleet.sh [N] [worker args...]"
need_binaries
# Local credentials are generated for a local server only; a remote one's
# worker password must come from that machine.
case "$NATS_URL" in
  *://127.0.0.1:* | *://localhost:* | *://127.0.0.1 | *://localhost) mode=generate ;;
  *) mode=nogenerate ;;
esac
role_password worker "$mode" >/dev/null
for i in $(seq 1 "$count"); do
  if running "worker-$i"; then
    say "worker-$i already running"
    continue
  fi
  start_worker "$i" "$@"
done
say "$count workers started against $NATS_URL (logs $IGENTAI_RUN_DIR/worker-*.log)"
