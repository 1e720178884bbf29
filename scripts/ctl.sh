#!/usr/bin/env bash
# `coordinator ctl` as the operator: logs in to NATS with the operator
# password (from IGENTAI_OPERATOR_PASSWORD or run/credentials.env), so
#   scripts/ctl.sh status
#   scripts/ctl.sh start "Rare cheeses" --target 500
#   scripts/ctl.sh watch
# work without typing credentials. Arguments go to `coordinator ctl`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$IGENTAI_BIN/coordinator" ] || die "$IGENTAI_BIN/coordinator is missing: run scripts/setup.sh first"
password="$(role_password operator nogenerate)" || exit 1
NATS_USER=operator NATS_PASSWORD="$password" exec "$IGENTAI_BIN/coordinator" ctl "$@"
