# Shared settings for the local scripts; sourced, not run.
# Everything local lives under .local/ in the project (ignored by git).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${OSMS_LOCAL_DIR:-$ROOT/.local}"
VENV="${OSMS_VENV:-$ROOT/.venv}"
PG_PORT="${OSMS_PG_PORT:-55432}"
PG_USER=osms
PG_DATA="$LOCAL/pg/data"
PG_LOG="$LOCAL/logs/postgres.log"
KAFKA_PORT="${OSMS_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${OSMS_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HOME="$LOCAL/kafka"
# The broker's jars: another folder's may be shared (tests/up runs a topology of its own beside the usual one).
KAFKA_LIB="${OSMS_KAFKA_LIB:-$KAFKA_HOME/lib}"
KAFKA_LOG="$LOCAL/logs/kafka.log"
KAFKA_HEAP="${OSMS_KAFKA_HEAP:--Xms256m -Xmx768m}"
SERVICES="contributions registry financing feedback"
# The services' and the console's ports, as they read them (services/common/settings.py, with any
# OSMS_<SERVICE>_PORT / OSMS_CONSOLE_PORT override): filled by load_ports once the Python environment exists.
declare -A SERVICE_PORT=()
CONSOLE_PORT=""
load_ports() {
  local svc port
  while read -r svc port; do
    if [[ $svc == console ]]; then CONSOLE_PORT=$port; else SERVICE_PORT[$svc]=$port; fi
  done < <(cd "$ROOT" && "$VENV/bin/python" -c '
from services.common.settings import SERVICE_PORTS, get_settings
for name in (*SERVICE_PORTS, "console"): print(name, get_settings().port_of(name))')
  [[ ${#SERVICE_PORT[@]} -eq 4 && -n $CONSOLE_PORT ]] || die "could not read the ports from services/common/settings.py"
}
mkdir -p "$LOCAL/logs" "$LOCAL/run"

log() { printf '[osms] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Wait until a TCP port on 127.0.0.1 accepts connections.
wait_port() {  # port seconds
  local port=$1 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# What the services and tests connect to: the configured servers, else the local ones.
export OSMS_DATABASE_URL_EFFECTIVE="${OSMS_DATABASE_URL:-postgresql://$PG_USER@127.0.0.1:$PG_PORT/postgres}"
export OSMS_KAFKA_BOOTSTRAP_EFFECTIVE="${OSMS_KAFKA_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}"
# Runs a command with those settings in its environment.
with_servers() { OSMS_DATABASE_URL="$OSMS_DATABASE_URL_EFFECTIVE" OSMS_KAFKA_BOOTSTRAP="$OSMS_KAFKA_BOOTSTRAP_EFFECTIVE" "$@"; }
