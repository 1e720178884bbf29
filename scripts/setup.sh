#!/usr/bin/env bash
# Installs what igentai needs to run (nats-server >= 2.10 via pip when
# missing), checks the Rust toolchain and builds the release binaries.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_toolchain
ensure_nats_server
say "nats-server: $(nats-server --version)"
say "building release binaries (cargo build --release)"
(cd "$IGENTAI_ROOT" && cargo build --release --bins --quiet)
say "binaries in $IGENTAI_BIN: coordinator worker dashboard"
