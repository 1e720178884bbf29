#!/usr/bin/env bash
# Starts N workers (default 5) in the background against $NATS_URL, worker
# i with id HOST-i, each logged in as its own NATS user worker-HOST-i. Extra
# arguments go to every worker, e.g. --concurrency 8.
#
# Against the local nats-server, a missing worker user is created and the
# server reloaded. On another machine: create each worker's user on the
# nats-server machine (scripts/add-worker.sh HOST-i, which prints what to
# do), copy its run/workers/HOST-i.env here, and set NATS_URL to the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count="${1:-5}"
shift || true
{ [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ]; } || die "usage: start-fleet.sh [N] [worker args...]"
need_binaries
# Worker users are created for a local server only; a remote one's must
# come from that machine.
case "$NATS_URL" in
  *://127.0.0.1:* | *://localhost:* | *://127.0.0.1 | *://localhost) local_server=1 ;;
  *) local_server=0 ;;
esac
created=0
for i in $(seq 1 "$count"); do
  id="$(worker_id "$i")"
  if [ "$local_server" = 1 ]; then
    if ensure_worker "$id"; then created=1; fi
  else
    worker_password "$id" >/dev/null
  fi
done
if [ "$created" = 1 ] && nats_running; then
  render_nats_conf
  reload_nats
fi
for i in $(seq 1 "$count"); do
  if running "worker-$i"; then
    say "worker-$i already running"
    continue
  fi
  start_worker "$i" "$@"
done
say "$count workers started against $NATS_URL (logs $IGENTAI_RUN_DIR/worker-*.log)"
