#!/usr/bin/env bash
# A full HTTP GET of a 200 MiB blob with one byte flipped at 30 MiB in the
# two replicas read first answers 200 with every byte right (no short
# connection) and marks both replicas (checksum mismatch).
. "$(dirname "$0")/lib.sh"
. "$E2E_DIR/blocks_lib.sh"

blocks_setup
must serve_start "$T/serve.log"
full_get_check big $((200 * MiB))
serve_stop

finish
