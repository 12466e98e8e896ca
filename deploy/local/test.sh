#!/usr/bin/env bash
# The whole test suite against real servers: local ones started here when not configured.
set -euo pipefail
here="$(dirname "$0")"
source "$here/env.sh"
started_pg=0 started_kafka=0
if [[ -z "${OSMS_DATABASE_URL:-}" ]] && ! port_open "$PG_PORT"; then started_pg=1; fi
if [[ -z "${OSMS_KAFKA_BOOTSTRAP:-}" ]] && ! port_open "$KAFKA_PORT"; then started_kafka=1; fi
cleanup() {
  ((started_kafka)) && "$here/kafka.sh" stop || true
  ((started_pg)) && "$here/postgres.sh" stop || true
}
trap cleanup EXIT
"$here/infra.sh" start
cd "$ROOT"
with_servers "$VENV/bin/python" -m pytest "$@"
