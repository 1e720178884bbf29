#!/usr/bin/env bash
# Installs what the tests need (nats-server >= 2.10; chromium and
# chromedriver for the dashboard's page tests; shellcheck, which checks
# scripts/ first; llama-cpp-python's server and a small model for the
# real-model test), builds every binary
# and runs every test: unit tests, each crate's integration tests, and the
# system tests in tests/ against a real nats-server and the real binaries.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_toolchain
ensure_nats_server
say "nats-server: $(nats-server --version)"
ensure_chromium
say "$(/usr/bin/chromium --version 2>/dev/null | head -n1)"
ensure_shellcheck
ensure_model_server
say "model server: llama-cpp-python $(python3 -c 'import llama_cpp; print(llama_cpp.__version__)'), model $(model_file)"
cd "$IGENTAI_ROOT"
shellcheck scripts/*.sh .ci/run || die "shellcheck found problems in scripts/ (see above)"
say "shellcheck: scripts/ and .ci/run are clean"
cargo fmt --all --check || die "code is not formatted: run cargo fmt --all"
# The system tests run the workspace binaries: build them first.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
