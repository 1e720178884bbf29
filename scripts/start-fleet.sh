#!/usr/bin/env bash
# Starts N workers (default 5) in the background against $NATS_URL.
# Extra arguments go to every worker, e.g. --concurrency 8.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count="${1:-5}"
shift || true
[[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] || die "usage: start-fleet.sh [N] [worker args...]"
need_binaries
host="$(hostname | tr -c 'A-Za-z0-9_\n-' '_')"
for i in $(seq 1 "$count"); do
  name="worker-$i"
  if running "$name"; then
    say "$name already running"
    continue
  fi
  start_bg "$name" "$IGENTAI_BIN/worker" --worker-id "$host-$i" --nats-url "$NATS_URL" "$@"
done
say "$count workers started against $NATS_URL (logs $IGENTAI_RUN_DIR/worker-*.log)"
