#!/usr/bin/env bash
# The yield benchmark: true distinct items per 1k tokens and per dollar of
# each steering strategy (naive, weights, partitions, avoid hints, all) on
# a simulated fleet in virtual time whose sims answer like real models and
# know what each line names (with the unique keys, their inflation, junk
# and wrong merges), every strategy against none on one model alone, the
# regret of the learned weights, and how fast they leave a degrading
# provider. Builds in release, prints the
# tables and writes them into BENCHMARKS.md between <!-- yield:begin -->
# and <!-- yield:end --> (nothing else in the file changes). Arguments are
# passed on (`target/release/yield --help`), e.g. `--seeds 5`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_toolchain
cd "$IGENTAI_ROOT"
say "building the yield benchmark (release)"
cargo build --release -p bench --bin yield
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
machine="$(nproc) cores, ${cpu:-unknown CPU}"
say "running it (a few minutes)"
target/release/yield \
  --write BENCHMARKS.md \
  --command "scripts/bench-yield.sh${*:+ $*}" \
  --machine "$machine" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  "$@"
say "results in BENCHMARKS.md"
