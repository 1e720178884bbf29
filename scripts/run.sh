#!/usr/bin/env bash
# Runs everything on this machine: nats-server, the coordinator, N workers
# on the offline sim provider (WORKERS, default 5) and the dashboard on
# http://127.0.0.1:8080, then starts TOPIC (default "Paris attractions").
#
#   scripts/run.sh ["TOPIC"] [--local] [START OPTIONS...]
#
# --local (or IGENTAI_LOCAL=1) runs the workers (WORKERS, default 2) on a
# real model on this machine instead of the sim: llama-cpp-python's
# OpenAI-compatible server, installed when missing (built from source once,
# about ten minutes on 2 cores), with Qwen2.5-Coder-0.5B-Instruct (fetched
# once, about 490 MB, checked by sha256) or the GGUF file
# IGENTAI_LOCAL_MODEL names, on 127.0.0.1:IGENTAI_LOCAL_PORT (default 8081).
# It is a role like the others: run/model-server.log, restarted when it
# dies, stopped after the workers (see scripts/lib.sh for its settings).
#
# START OPTIONS are those of `coordinator ctl start` (`--target 500`,
# `--budget-usd 0.5`, `--max-duration-s 600`, `--min-coverage 0.9`,
# `--min-yield-per-1k-tokens 2`, `--items-per-request`, `--no-weights`,
# `--no-partitions`, `--no-avoid`). With a stop condition among them the run
# is unattended: progress is printed, and when the run stops everything is
# stopped and the script exits 0. Without one it stays in the foreground
# until Ctrl-C.
#
# While it runs it supervises: a role that dies (a node of a local cluster
# too) is restarted with backoff and logged; it gives up (exit 1, with the
# reason) only when a role keeps dying. The topic is started once the
# coordinator answers (bounded: IGENTAI_COORDINATOR_WAIT, 120 s). Ctrl-C (or SIGTERM) stops the roles in order, so nothing is lost:
# workers finish and publish their answers, the coordinator ingests them and
# commits, then the dashboard and nats-server stop; exit code 130 (143).
#
# Each role logs in to NATS as its own user, and each worker as a user of its
# own; the passwords are generated into run/credentials.env and
# run/workers/<id>.env on first run (see README: Security).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

topic="Paris attractions"
if [ "$#" -gt 0 ] && [[ "$1" != --* ]]; then
  topic="$1"
  shift
fi
# --local is this script's; every other option goes to `coordinator ctl start`.
local_model="${IGENTAI_LOCAL:-0}"
start_options=()
for option in "$@"; do
  if [ "$option" = --local ]; then local_model=1; else start_options+=("$option"); fi
done
case "$local_model" in
  1 | 0 | "") ;;
  *) die "IGENTAI_LOCAL must be 1 (run on the local model) or 0, got '$local_model'" ;;
esac
unattended=0
for option in "${start_options[@]}"; do
  case "$option" in
    --target | --target=* | --budget-usd | --budget-usd=* | --max-duration-s | --max-duration-s=* | \
      --min-coverage | --min-coverage=* | --min-yield-per-1k-tokens | --min-yield-per-1k-tokens=*)
      unattended=1 ;;
  esac
done
# One local model server answers one request at a time: a few workers keep
# it busy.
if [ "$local_model" = 1 ]; then worker_count="${WORKERS:-2}"; else worker_count="${WORKERS:-5}"; fi
{ [[ "$worker_count" =~ ^[0-9]+$ ]] && [ "$worker_count" -ge 1 ]; } || die "WORKERS must be a whole number >= 1, got '$worker_count'"
dashboard_addr="${IGENTAI_DASHBOARD_ADDR:-127.0.0.1:8080}"
export IGENTAI_DASHBOARD_ADDR="$dashboard_addr"
# A role that dies this many times within RESTART_WINDOW seconds is given up on.
max_restarts="${IGENTAI_MAX_RESTARTS:-5}"
restart_window=120

[ "$local_model" = 1 ] && ensure_local_model
"$IGENTAI_ROOT/scripts/setup.sh"

running coordinator && die "a coordinator is already running (scripts/stop.sh stops it)"
running dashboard && die "a dashboard is already running (scripts/stop.sh stops it)"
if [ "$local_model" = 1 ]; then
  running model-server && die "a local model server is already running (scripts/stop.sh stops it)"
  (exec 3<>"/dev/tcp/127.0.0.1/$IGENTAI_LOCAL_PORT") 2>/dev/null \
    && die "port $IGENTAI_LOCAL_PORT, the local model server's, is in use: stop what listens there or set IGENTAI_LOCAL_PORT"
fi
mkdir -p "$IGENTAI_RUN_DIR"
worker_args=()
if [ "$local_model" = 1 ]; then
  write_local_providers "$IGENTAI_RUN_DIR/providers-local.toml"
  # One generating call per worker: the server answers one at a time.
  worker_args=(--providers "$IGENTAI_RUN_DIR/providers-local.toml" --concurrency 1)
fi

# ---- the roles, each startable again by name ------------------------------

roles=(nats coordinator dashboard)
# A local cluster (NATS_CLUSTER=3): each node is a role, restarted alone.
if [ "$NATS_CLUSTER" -gt 1 ]; then
  roles=(coordinator dashboard)
  for i in $(seq 1 "$NATS_CLUSTER"); do roles+=("nats-$i"); done
fi
for i in $(seq 1 "$worker_count"); do roles+=("worker-$i"); done
[ "$local_model" = 1 ] && roles+=(model-server)

start_role() {
  case "$1" in
    nats | nats-*) "$IGENTAI_ROOT/scripts/start-nats.sh" ;;
    coordinator)
      start_bg_as coordinator coordinator "$IGENTAI_BIN/coordinator" --nats-url "$NATS_URL" --data-dir "$IGENTAI_DATA_DIR" ;;
    dashboard)
      start_bg_as dashboard dashboard "$IGENTAI_BIN/dashboard" --nats-url "$NATS_URL" --listen "$dashboard_addr" --data-dir "$IGENTAI_DATA_DIR" ;;
    worker-*) start_worker "${1#worker-}" "${worker_args[@]}" ;;
    # Not waited for here: a restarted server loads while the workers'
    # calls back off.
    model-server) start_model_server ;;
  esac
}

# ---- stopping ---------------------------------------------------------

watcher=""
stopping=0
finish() {
  local code="$1"
  [ "$stopping" = 1 ] && exit "$code"
  stopping=1
  trap '' INT TERM
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  echo
  if [ "$local_model" = 1 ]; then
    say "stopping: workers first, then the model server, the coordinator, the dashboard and nats-server"
  else
    say "stopping: workers first, then the coordinator, the dashboard and nats-server"
  fi
  stop_all
  say "stopped; logs in $IGENTAI_RUN_DIR"
  exit "$code"
}
trap 'finish 130' INT
trap 'finish 143' TERM
# Anything else that ends the script (an error) stops what it started.
trap '[ "$stopping" = 1 ] || { stopping=1; stop_all; }' EXIT

# ---- start ----------------------------------------------------------------

# Every worker's NATS user exists before nats-server starts: no reloads.
for i in $(seq 1 "$worker_count"); do ensure_worker "$(worker_id "$i")" || true; done
# The model loads while NATS and the coordinator start; the workers start
# once it answers, so their first calls find it.
if [ "$local_model" = 1 ]; then
  say "starting the local model server on $(local_base_url) with $(local_model_file)"
  start_role model-server
fi
start_role nats
start_role coordinator
if [ "$local_model" = 1 ]; then
  wait_model_server
  say "the local model server answers on $(local_base_url) (log $IGENTAI_RUN_DIR/model-server.log)"
fi
for role in "${roles[@]}"; do
  [[ "$role" == worker-* ]] && start_role "$role"
done
say "$worker_count workers started against $NATS_URL (logs $IGENTAI_RUN_DIR/worker-*.log)"
start_role dashboard
wait_port "${dashboard_addr##*:}" dashboard

# The start goes to a coordinator that answers: sent earlier it would find
# no responder (on a cluster the coordinator takes seconds longer to be
# ready: it creates replicated streams first).
wait_coordinator
if ! reply="$(run_as operator "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" start "$topic" "${start_options[@]}" 2>"$IGENTAI_RUN_DIR/start.err")"; then
  # A refusal is a JSON reply on stdout; anything else (no coordinator
  # answered, none in time) is on stderr.
  [ -n "$reply" ] || die "no coordinator answered the start: $(tr -s '\n ' ' ' <"$IGENTAI_RUN_DIR/start.err")"
  die "the coordinator refused the topic: $reply"
fi
output_dir="$(printf '%s\n' "$reply" | sed -n 's/.*"output_dir": *"\(.*\)".*/\1/p')"
run_id="$(printf '%s\n' "$reply" | sed -n 's/.*"run_id": *"\(.*\)".*/\1/p')"

if [ "$unattended" = 1 ]; then
  until_what="until the run stops (${start_options[*]})"
else
  until_what="until Ctrl-C"
fi
if [ "$local_model" = 1 ]; then
  fleet_what="$worker_count workers on the local model $(local_model_alias)"
  model_line="model       $(local_base_url)   ($(local_model_file))
  "
else
  fleet_what="$worker_count sim workers"
  model_line=""
fi
cat <<MSG

  igentai is running: "$topic" with $fleet_what, $until_what.

  ${model_line}dashboard   http://$dashboard_addr
  output      $output_dir/output.txt   (tail -f it)
  status      scripts/ctl.sh status   (coordinator ctl, as the operator)
  logs        $IGENTAI_RUN_DIR/*.log
  stop        Ctrl-C here (or scripts/stop.sh from another terminal)

MSG

if [ "$unattended" = 1 ]; then
  # The progress line; it exits 0 once this run has stopped.
  NATS_USER=operator NATS_PASSWORD="$(role_password operator)" \
    setsid "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" watch --run-id "$run_id" </dev/null &
  watcher=$!
fi

# ---- supervise --------------------------------------------------------------

declare -A deaths=()   # role -> the times (SECONDS) it died, space-separated
declare -A due=()      # role -> when (SECONDS) to start it again

# Records a death of ROLE and schedules its restart, or gives up.
died() {
  local role="$1" status="$2" recent=() t
  for t in ${deaths[$role]:-}; do
    [ $((SECONDS - t)) -lt "$restart_window" ] && recent+=("$t")
  done
  recent+=("$SECONDS")
  deaths[$role]="${recent[*]}"
  if [ "${#recent[@]}" -gt "$max_restarts" ]; then
    printf '\033[1;31m[igentai] error:\033[0m %s\n' "$role died ${#recent[@]} times within ${restart_window}s (last exit status $status); giving up (see $IGENTAI_RUN_DIR/$role.log)" >&2
    finish 1
  fi
  local backoff=$((1 << (${#recent[@]} - 1)))
  [ "$backoff" -gt 30 ] && backoff=30
  due[$role]=$((SECONDS + backoff))
  say "$role exited (status $status); restarting it in ${backoff}s (see $IGENTAI_RUN_DIR/$role.log)" >&2
}

while :; do
  for role in "${roles[@]}"; do
    if [ -n "${due[$role]:-}" ]; then
      if [ "$SECONDS" -ge "${due[$role]}" ]; then
        unset "due[$role]"
        # A start that fails (a node that cannot open its port) counts as
        # one more death on the next pass, not as the script's end.
        if start_role "$role"; then
          say "$role restarted" >&2
        else
          say "$role could not be restarted" >&2
        fi
      fi
    elif ! running "$role"; then
      # Its exit status, when it is this shell's child (nats-server is
      # started by start-nats.sh, so its status is unknown here).
      status="unknown"
      if pid="$(pid_of "$role")" && [ -n "$pid" ]; then
        if wait "$pid" 2>/dev/null; then status=0; else status=$?; fi
        [ "$status" = 127 ] && status="unknown"
      fi
      rm -f "$IGENTAI_RUN_DIR/$role.pid"
      died "$role" "$status"
    fi
  done
  if [ -n "$watcher" ] && ! kill -0 "$watcher" 2>/dev/null; then
    if wait "$watcher"; then
      watcher=""
      finish 0
    fi
    say "the progress watcher exited unexpectedly; following the run again" >&2
    NATS_USER=operator NATS_PASSWORD="$(role_password operator)" \
      setsid "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" watch --run-id "$run_id" </dev/null &
    watcher=$!
  fi
  # In the background, so a signal is handled at once, not after the sleep.
  sleep 1 &
  wait $! || true
done
