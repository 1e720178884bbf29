#!/usr/bin/env bash
# Starts nats-server with JetStream (nats.conf) in the background; the store
# lives under $IGENTAI_DATA_DIR/.nats/nats. Port: $NATS_PORT (4222); monitoring on
# 127.0.0.1:$NATS_MONITOR_PORT (8222) only. Clients listen on 127.0.0.1
# unless NATS_HOST says otherwise (NATS_HOST=0.0.0.0 for workers on other
# machines).
#
# NATS_CLUSTER=3 starts a local three-node cluster instead (to try what
# several hosts do; README: Scale beyond one machine): node i (n1, n2, n3)
# on client port NATS_PORT+i-1, monitoring NATS_MONITOR_PORT+i-1, cluster
# routes on 127.0.0.1:NATS_ROUTE_PORT+i-1 (6222..6224), its store in
# $IGENTAI_DATA_DIR/.nats/nats-<i>, pid and log run/nats-<i>.*; every node has the
# same users. NATS_URL lists every node. Nodes already running are kept.
#
# Every client must log in: the three role passwords come from the
# environment or from run/credentials.env, generated here on first run, and
# each worker has its own user (scripts/add-worker.sh); the server runs with
# run/nats.conf, nats.conf with those users rendered in (see README:
# Security).
#
# The stores live in $IGENTAI_DATA_DIR/.nats/, a name no topic folder can
# take (README: Output). A store left by an earlier version in
# $IGENTAI_DATA_DIR/<name>/jetstream, among the topic folders, is moved
# there (one rename) before its server starts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_nats_server
host_args=()
[ -n "${NATS_HOST:-}" ] && host_args=(-a "$NATS_HOST")

# move_old_store NAME STORE: the JetStream store an earlier version kept in
# $IGENTAI_DATA_DIR/NAME moves to STORE (a rename: same file system); the
# old folder goes if nothing else is in it (a topic folder stays).
move_old_store() {
  local old="$IGENTAI_DATA_DIR/$1/jetstream" new="$2/jetstream"
  [ -d "$old" ] || return 0
  if [ -e "$new" ]; then
    say "warning: $old is an earlier store of $1, but $new exists and is used; remove the old one when it is not needed"
    return 0
  fi
  mkdir -p "$2"
  mv "$old" "$new"
  rmdir "$IGENTAI_DATA_DIR/$1" 2>/dev/null || true
  say "moved the JetStream store of $1 from $old to $new"
}

# start_server NAME CONF STORE PORT MONITOR_PORT
start_server() {
  local name="$1" conf="$2" store="$3" port="$4" monitor="$5"
  move_old_store "$name" "$store"
  mkdir -p "$store"
  (
    # Only nats-server gets every password.
    for role in coordinator dashboard operator; do
      var="$(password_var "$role")"
      value="$(role_password "$role")" || exit 1
      export "$var=$value"
    done
    export IGENTAI_NATS_STORE_DIR="$store"
    start_bg "$name" nats-server -c "$conf" -p "$port" -m "$monitor" "${host_args[@]}"
  )
}

if [ "$NATS_CLUSTER" -le 1 ]; then
  if running nats; then
    say "nats-server already running (pid $(cat "$IGENTAI_RUN_DIR/nats.pid"))"
    exit 0
  fi
  render_nats_conf
  start_server nats "$IGENTAI_RUN_DIR/nats.conf" "$IGENTAI_NATS_STORES/nats" "$NATS_PORT" "$NATS_MONITOR_PORT"
  wait_port "$NATS_PORT" nats-server
  say "nats-server on $NATS_URL (monitoring http://127.0.0.1:$NATS_MONITOR_PORT), log $IGENTAI_RUN_DIR/nats.log"
else
  running nats && die "a single nats-server runs here (run/nats.pid): stop it (scripts/stop.sh) before starting a cluster"
  render_nats_conf
  for i in $(seq 1 "$NATS_CLUSTER"); do
    if running "nats-$i"; then
      say "node n$i already running (pid $(pid_of "nats-$i"))"
      continue
    fi
    render_node_conf "$i"
    start_server "nats-$i" "$IGENTAI_RUN_DIR/nats-$i.conf" "$IGENTAI_NATS_STORES/nats-$i" \
      $((NATS_PORT + i - 1)) $((NATS_MONITOR_PORT + i - 1))
  done
  for i in $(seq 1 "$NATS_CLUSTER"); do
    wait_port $((NATS_PORT + i - 1)) "nats-server n$i"
  done
  say "NATS cluster of $NATS_CLUSTER nodes on $NATS_URL (routes from 127.0.0.1:$NATS_ROUTE_PORT, monitoring from http://127.0.0.1:$NATS_MONITOR_PORT), logs $IGENTAI_RUN_DIR/nats-*.log"
fi
say "NATS users: coordinator, dashboard, operator (passwords in $IGENTAI_CREDENTIALS) and one per worker ($IGENTAI_WORKERS_DIR; scripts/add-worker.sh adds one)"
