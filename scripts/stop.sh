#!/usr/bin/env bash
# Stops every process the scripts started (pid files in $IGENTAI_RUN_DIR):
# SIGTERM first, so workers publish what they hold and the coordinator
# commits; SIGKILL for any still alive after 30 s. nats-server goes last.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_group() {
  local pids=() name pid
  for name in "$@"; do
    [ -f "$IGENTAI_RUN_DIR/$name.pid" ] || continue
    pid="$(cat "$IGENTAI_RUN_DIR/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$IGENTAI_RUN_DIR/$name.pid"
  done
  local deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

[ -d "$IGENTAI_RUN_DIR" ] || { say "nothing to stop"; exit 0; }
workers=()
for f in "$IGENTAI_RUN_DIR"/worker-*.pid; do [ -e "$f" ] && workers+=("$(basename "$f" .pid)"); done
stop_group dashboard "${workers[@]}"
stop_group coordinator
stop_group nats
say "stopped"
