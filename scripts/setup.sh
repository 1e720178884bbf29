#!/usr/bin/env bash
# Installs what igentai needs to run (nats-server >= 2.10 via pip when
# missing), checks the Rust toolchain and builds the binaries the scripts
# start (coordinator, worker, dashboard) into $IGENTAI_BIN, which follows
# CARGO_TARGET_DIR and IGENTAI_PROFILE (release by default); then checks
# that every one of them is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_nats_server
say "nats-server: $(nats-server --version)"
build_binaries
say "binaries in $IGENTAI_BIN: ${IGENTAI_BINARIES[*]}"
