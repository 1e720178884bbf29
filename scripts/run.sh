#!/usr/bin/env bash
# Runs everything on this machine: nats-server, the coordinator, N workers
# on the offline sim provider (WORKERS, default 5) and the dashboard on
# http://127.0.0.1:8080, then starts TOPIC (default "Paris attractions").
# Ctrl-C or SIGTERM stops every process it started.
#
# Each role logs in to NATS as its own user; the passwords are generated into
# run/credentials.env on first run (see README: Security).
#
#   scripts/run.sh ["TOPIC"]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

topic="${1:-Paris attractions}"
workers="${WORKERS:-5}"
dashboard_addr="${IGENTAI_DASHBOARD_ADDR:-127.0.0.1:8080}"
export IGENTAI_DASHBOARD_ADDR="$dashboard_addr"

"$IGENTAI_ROOT/scripts/setup.sh"

stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  say "stopping everything"
  "$IGENTAI_ROOT/scripts/stop.sh"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$IGENTAI_ROOT/scripts/start-nats.sh"
running coordinator && die "a coordinator is already running (scripts/stop.sh stops it)"
start_bg_as coordinator coordinator "$IGENTAI_BIN/coordinator" --nats-url "$NATS_URL" --data-dir "$IGENTAI_DATA_DIR"
"$IGENTAI_ROOT/scripts/start-fleet.sh" "$workers"
start_bg_as dashboard dashboard "$IGENTAI_BIN/dashboard" --nats-url "$NATS_URL" --listen "$dashboard_addr"
wait_port "${dashboard_addr##*:}" dashboard

reply="$(run_as operator "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" start "$topic")" \
  || die "the coordinator refused the topic: $reply"
output_dir="$(printf '%s\n' "$reply" | sed -n 's/.*"output_dir": *"\(.*\)".*/\1/p')"

cat <<MSG

  igentai is running: "$topic" with $workers sim workers.

  dashboard   http://$dashboard_addr
  output      $output_dir/output.txt   (tail -f it)
  status      scripts/ctl.sh status   (coordinator ctl, as the operator)
  logs        $IGENTAI_RUN_DIR/*.log
  stop        Ctrl-C here (or scripts/stop.sh from another terminal)

MSG

# Stay in the foreground until interrupted or until a role dies.
while running coordinator && running dashboard && running nats; do sleep 1; done
die "a process exited unexpectedly; see $IGENTAI_RUN_DIR/*.log"
