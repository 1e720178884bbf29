#!/usr/bin/env bash
# Fuzzes the parsers that take outside input: the answer parser, the dedup
# normalizer, control-command decoding and batch decoding.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 600 s, all four)
#
# Uses cargo-fuzz (libFuzzer); installs it when missing. The machine's stable
# toolchain is used with RUSTC_BOOTSTRAP=1 for the sanitizer flags. New
# interesting inputs land in fuzz/corpus/<target>/ (kept in git and replayed
# by `cargo test`); crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds="${1:-600}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(parse_answer normalize control_decode batch_decode)

ensure_toolchain
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd "$IGENTAI_ROOT/fuzz"
for t in "${targets[@]}"; do
  say "fuzzing $t for ${seconds}s"
  cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=65536 -timeout=10
  # Keep the corpus small: only inputs that add coverage.
  cargo fuzz cmin "$t" "corpus/$t" >/dev/null 2>&1 || true
done
say "done; corpus in fuzz/corpus/, crashes (if any) in fuzz/artifacts/"
