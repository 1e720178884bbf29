#!/usr/bin/env bash
# Gives worker ID its own NATS user, on the machine that runs nats-server:
# creates its password (run/workers/ID.env, mode 600) unless it has one,
# renders run/nats.conf and, when nats-server runs, reloads it (clients stay
# connected). Then prints what a worker on another machine needs: the URL,
# its user and password, and the command line.
#
#   scripts/add-worker.sh ID
#
# The user may publish only igentai.candidates.ID and igentai.heartbeat.ID
# and read only its own commands and replies (see nats.conf, README:
# Security). Workers on other machines also need the server to listen
# beyond loopback: NATS_HOST=0.0.0.0 scripts/start-nats.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$#" -eq 1 ] || die "usage: add-worker.sh ID (letters, digits, - and _)"
id="$1"
if ensure_worker "$id"; then
  say "created NATS user worker-$id in $(worker_file "$id")"
else
  say "worker $id already has a NATS user ($(worker_file "$id"))"
fi
render_nats_conf
if nats_running; then
  reload_nats
  say "nats-server reloaded: worker-$id can log in"
fi
password="$(worker_password "$id")"
host="${NATS_HOST:-127.0.0.1}"
[ "$host" = 0.0.0.0 ] && host="$(hostname)"
url="nats://$host:$NATS_PORT"
# A local cluster: every node's URL, so the worker rides failover.
[ "$NATS_CLUSTER" -gt 1 ] && url="$(for i in $(seq 0 $((NATS_CLUSTER - 1))); do printf 'nats://%s:%s\n' "$host" $((NATS_PORT + i)); done | paste -sd, -)"
cat <<MSG

  On the worker's machine (keep the password private; it is also in
  $(worker_file "$id"), which scripts/start-fleet.sh reads there):

    NATS_URL=$url
    NATS_USER=worker-$id
    NATS_PASSWORD=$password

    NATS_URL=$url NATS_USER=worker-$id NATS_PASSWORD=$password \\
      worker --worker-id $id

MSG
