#!/usr/bin/env bash
# Local PostgreSQL in .local/pg: installed from Debian's packages when the machine has no
# server binaries, initialised with initdb, run with pg_ctl on a port of its own.
# Usage: postgres.sh install|start|stop|status|bindir
set -euo pipefail
source "$(dirname "$0")/env.sh"

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/pg_ctl" && -x "$d/initdb" && -x "$d/postgres" ]] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null && command -v initdb >/dev/null && dirname "$(command -v pg_ctl)" && return 0
  return 1
}

install() {
  find_bindir >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries are missing; run as root or: sudo apt-get install postgresql"
  log "installing PostgreSQL from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian's package starts a cluster on 5432; ours is separate and needs none of it.
  find_bindir >/dev/null || die "PostgreSQL installed but no pg_ctl found"
}

# initdb and postgres refuse to run as root: run them as an unprivileged owner of the data.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A field of /proc/meminfo (its number).
meminfo() { awk -v key="$1:" '$1 == key {print $2}' /proc/meminfo; }

# Shared buffers in huge pages: a national projection's batches touch pages all over gigabytes of
# buffers, and with 4 kB pages most of those touches also miss the processor's address cache
# (docs/performance.md, "Tried and not kept"). Reserving them takes root; the pages this script
# adds are given back at stop, and PostgreSQL (huge_pages = try) takes ordinary pages when there are
# not enough.
reserve_huge_pages() {
  local value=$1 mb size_kb total free reserved need
  [[ $EUID -eq 0 && -w /proc/sys/vm/nr_hugepages ]] || return 0
  case "$value" in
    *GB) mb=$(( ${value%GB} * 1024 )) ;;
    *MB) mb=${value%MB} ;;
    *) return 0 ;;
  esac
  [[ "$mb" =~ ^[0-9]+$ ]] || return 0
  size_kb=$(meminfo Hugepagesize)
  [[ "$size_kb" =~ ^[0-9]+$ && "$size_kb" -gt 0 ]] || return 0
  need=$(( mb * 1024 * 105 / 100 / size_kb + 64 ))   # and PostgreSQL's other shared memory
  total=$(meminfo HugePages_Total)
  free=$(meminfo HugePages_Free)
  reserved=$(meminfo HugePages_Rsvd)
  (( free - reserved >= need )) && return 0
  echo $(( total + need - (free - reserved) )) >/proc/sys/vm/nr_hugepages 2>/dev/null || return 0
  echo $(( $(meminfo HugePages_Total) - total )) >"$LOCAL/pg/huge_pages_added"
}

release_huge_pages() {
  [[ $EUID -eq 0 && -f "$LOCAL/pg/huge_pages_added" ]] || return 0
  local added total
  added=$(cat "$LOCAL/pg/huge_pages_added")
  total=$(meminfo HugePages_Total)
  [[ "$added" =~ ^[0-9]+$ ]] && (( total >= added )) && echo $(( total - added )) >/proc/sys/vm/nr_hugepages 2>/dev/null
  rm -f "$LOCAL/pg/huge_pages_added"
}

start() {
  install
  local bin; bin="$(find_bindir)"
  mkdir -p "$LOCAL/pg"
  [[ $EUID -eq 0 ]] && chown -R postgres "$LOCAL/pg" 2>/dev/null || true
  [[ $EUID -eq 0 ]] && { touch "$PG_LOG"; chown postgres "$PG_LOG"; }
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    log "initdb $PG_DATA"
    as_owner "$bin/initdb" -D "$PG_DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # The settings live in osms.conf, written at every start, so a change here reaches data folders
  # made before it; postgresql.conf only includes it.
  grep -qx "include_if_exists = 'osms.conf'" "$PG_DATA/postgresql.conf" ||
    echo "include_if_exists = 'osms.conf'" >>"$PG_DATA/postgresql.conf"
  # A quarter of the memory (at most 8 GB): a national projection's batches touch gigabytes of
  # pages, and each one missing from the buffers is copied in from the kernel's cache, and a
  # changed one out again (docs/performance.md, "Tried and not kept").
  local mem_mb buffers
  mem_mb=$(( $(meminfo MemTotal) / 1024 ))
  buffers="${OSMS_PG_SHARED_BUFFERS:-$(( mem_mb / 4 > 8192 ? 8192 : (mem_mb / 4 < 128 ? 128 : mem_mb / 4) ))MB}"
  cat >"$PG_DATA/osms.conf" <<CONF
# osms local settings (deploy/local/postgres.sh writes this file at every start)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$LOCAL/pg'
max_connections = 200
shared_buffers = $buffers
huge_pages = try
work_mem = 16MB
maintenance_work_mem = 256MB
wal_level = replica
# A consumer batch touches pages all over a national projection; the first change of a page after a
# checkpoint writes the whole page into the WAL. Checkpoints further apart: fewer such images
# (docs/performance.md, "Tried and not kept").
max_wal_size = 8GB
checkpoint_timeout = 15min
synchronous_commit = on
fsync = on
# Autovacuum looks at each database every 5 s, not every minute: the visits' checks count by index
# alone only on pages vacuum has marked all-visible (the tables' own thresholds are in the migrations).
autovacuum_naptime = 5s
# Personal data stays out of the server log: no statements, no DETAIL lines with key values.
log_error_verbosity = terse
log_min_error_statement = panic
CONF
  [[ $EUID -eq 0 ]] && chown postgres "$PG_DATA/osms.conf"
  if port_open "$PG_PORT" && as_owner "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by another program (set OSMS_PG_PORT)"
  reserve_huge_pages "$buffers"
  as_owner "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null
  log "PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DATA)"
}

stop() {
  local bin; bin="$(find_bindir)" || return 0
  [[ -f "$PG_DATA/PG_VERSION" ]] || return 0
  as_owner "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 && log "PostgreSQL stopped" || true
  release_huge_pages || true
}

# The server binaries' folder (deploy/ha/ha.sh gives it to Patroni).
bindir() { find_bindir; }

status() {
  local bin; bin="$(find_bindir)" || { echo "not installed"; return 1; }
  as_owner "$bin/pg_ctl" -D "$PG_DATA" status
}

"${1:-start}"
