#!/usr/bin/env bash
# Starts/stops the servers the services need: the local PostgreSQL and Kafka, unless
# OSMS_DATABASE_URL / OSMS_KAFKA_BOOTSTRAP point at servers of one's own.
# Usage: infra.sh start|stop
set -euo pipefail
here="$(dirname "$0")"
source "$here/env.sh"
case "${1:-start}" in
  start)
    if [[ -z "${OSMS_DATABASE_URL:-}" ]]; then "$here/postgres.sh" start; else log "using OSMS_DATABASE_URL"; fi
    if [[ -z "${OSMS_KAFKA_BOOTSTRAP:-}" ]]; then "$here/kafka.sh" start; else log "using OSMS_KAFKA_BOOTSTRAP=$OSMS_KAFKA_BOOTSTRAP"; fi
    ;;
  stop)
    if [[ -z "${OSMS_KAFKA_BOOTSTRAP:-}" ]]; then "$here/kafka.sh" stop; fi
    if [[ -z "${OSMS_DATABASE_URL:-}" ]]; then "$here/postgres.sh" stop; fi
    ;;
  *) die "usage: infra.sh start|stop" ;;
esac
