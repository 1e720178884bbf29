#!/usr/bin/env bash
# Runs igentai's benchmarks and records them in BENCHMARKS.md: installs
# nats-server when missing, builds the release binaries, runs the throughput
# and memory benchmarks (ingest, dedup core, memory, fleet, dashboard;
# `target/release/throughput --help` lists their knobs, and any argument
# given here is passed on, e.g. `scripts/bench.sh --only ingest,dedup`),
# then the yield benchmark when scripts/bench-yield.sh exists.
#
# Takes a few minutes and about 3 GB in the temp folder (the memory
# benchmark's ten million items). Each benchmark prints numbers against
# its target and, where there is one, a limit measured in the same run:
# on a shared machine compare those ratios, not absolute numbers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_toolchain
ensure_nats_server
say "nats-server: $(nats-server --version)"
cd "$IGENTAI_ROOT"
say "building release binaries"
cargo build --release -p bench -p coordinator -p worker -p dashboard
say "throughput and memory benchmarks"
target/release/throughput --write BENCHMARKS.md --command "scripts/bench.sh${*:+ $*}" "$@"
if [ -f scripts/bench-yield.sh ]; then
  say "yield benchmark (scripts/bench-yield.sh)"
  bash scripts/bench-yield.sh
fi
