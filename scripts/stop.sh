#!/usr/bin/env bash
# Stops every process the scripts started (pid files in $IGENTAI_RUN_DIR),
# in order: workers first (SIGTERM: they finish their calls and publish what
# they hold), then the coordinator once it has read what they published (it
# commits on exit), then the dashboard, and nats-server last. A process still
# alive 30 s after SIGTERM gets SIGKILL. A pid file is removed only once its
# process has exited.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$IGENTAI_RUN_DIR" ] || { say "nothing to stop"; exit 0; }
stop_all
say "stopped"
