#!/usr/bin/env bash
# The local HA topology (make up-ha): three etcd members, PostgreSQL as three members managed by
# Patroni (synchronous replication), three Kafka brokers in KRaft mode (three controllers), two
# instances of each service behind HAProxy. Ports: deploy/ha/ports.env; data, logs and pid files:
# .local/ha (OSMS_HA_DIR). Run as root on a bare machine: it installs etcd-server and haproxy from
# Debian's packages, Patroni from PyPI into .local/patroni.
# Usage: ha.sh up | down | status | where | start KIND N | restart KIND N | kill KIND N [KIND N ...]
#   KIND N: etcd 1-3, pg 1-3 (Patroni and its PostgreSQL), kafka 1-3, haproxy 1,
#           contributions|registry|financing|feedback 1-2 (an instance)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../local/env.sh"
source "$here/ports.env"
HA="${OSMS_HA_DIR:-$LOCAL/ha}"
PATRONI_VENV="$LOCAL/patroni"
KAFKA_LIB="$LOCAL/kafka/lib"
KAFKA_HEAP="${OSMS_HA_KAFKA_HEAP:--Xms128m -Xmx384m}"
mkdir -p "$HA/logs" "$HA/run"

read -r -a ETCD_CLIENT <<<"$HA_ETCD_CLIENT_PORTS"
read -r -a ETCD_PEER <<<"$HA_ETCD_PEER_PORTS"
read -r -a PG <<<"$HA_PG_PORTS"
read -r -a PATRONI <<<"$HA_PATRONI_PORTS"
read -r -a KAFKA <<<"$HA_KAFKA_PORTS"
read -r -a KAFKA_CONTROLLER <<<"$HA_KAFKA_CONTROLLER_PORTS"
declare -A FRONTEND=() INSTANCES=()
for pair in $HA_FRONTEND_PORTS; do FRONTEND[${pair%%:*}]=${pair#*:}; done
for pair in $HA_INSTANCE_PORTS; do INSTANCES[${pair%%:*}]=${pair#*:}; done
instance_port() { local ports="${INSTANCES[$1]}"; cut -d, -f"$2" <<<"$ports"; }

joined() { local IFS=,; echo "$*"; }
ETCD_HOSTS="$(joined "${ETCD_CLIENT[@]/#/127.0.0.1:}")"
KAFKA_BOOTSTRAP="$(joined "${KAFKA[@]/#/127.0.0.1:}")"
# Every host of the cluster: a new connection goes to whichever is the primary now.
DATABASE_URL="postgresql://osms@$(joined "${PG[@]/#/127.0.0.1:}")/postgres?target_session_attrs=read-write"
# HAProxy's port that leads to the primary (Patroni's /primary check).
PRIMARY_URL="postgresql://osms@127.0.0.1:$HA_PG_PRIMARY_PORT/postgres"

# What every osms process of the topology is given (explicitly: a shell's own OSMS_* must not leak in).
WITH_HA=(env OSMS_DATABASE_URL="$DATABASE_URL" OSMS_KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP" OSMS_TOPIC_PREFIX=""
         OSMS_DB_PREFIX=osms_ OSMS_TOPIC_PARTITIONS=6 OSMS_TOPIC_REPLICATION_FACTOR=3 OSMS_TOPIC_MIN_INSYNC_REPLICAS=2
         OSMS_MIGRATE_ON_START=false)

pidfile() { echo "$HA/run/$1-$2.pid"; }
# Alive and not a zombie.
alive() {
  local f; f="$(pidfile "$1" "$2")"
  [[ -f "$f" ]] || return 1
  local state; state="$(ps -o stat= -p "$(cat "$f")" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}
# Runs a command in the background, its pid (the command's own: exec'd, not a subshell) in a file.
launch() {  # kind n log command...
  local kind=$1 n=$2 logfile=$3; shift 3
  nohup "$@" >>"$logfile" 2>&1 &
  echo $! >"$(pidfile "$kind" "$n")"
}

install() {
  "$ROOT/deploy/local/install.sh"
  "$ROOT/deploy/local/postgres.sh" install
  "$ROOT/deploy/local/kafka.sh" install
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v haproxy >/dev/null || missing+=(haproxy)
  if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}: run as root, or apt-get install ${missing[*]}"
    log "installing ${missing[*]} from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  local stamp; stamp="$(sha256sum "$here/patroni-requirements.txt" | cut -c1-16)"
  if [[ ! -f "$PATRONI_VENV/.stamp" || "$(cat "$PATRONI_VENV/.stamp")" != "$stamp" ]]; then
    log "installing Patroni into $PATRONI_VENV"
    # The system's Python, which the postgres user can run (a root's own, e.g. pyenv's, it may not reach).
    rm -rf "$PATRONI_VENV"
    /usr/bin/python3 -m venv "$PATRONI_VENV" 2>/dev/null || {
      [[ $EUID -eq 0 ]] || die "python3-venv is missing: apt-get install python3-venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      /usr/bin/python3 -m venv "$PATRONI_VENV"
    }
    "$PATRONI_VENV/bin/pip" install -q -r "$here/patroni-requirements.txt"
    echo "$stamp" >"$PATRONI_VENV/.stamp"
  fi
  # PostgreSQL refuses to run as root: Patroni and its servers run as `postgres`.
  if [[ $EUID -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
}

# setpriv execs the command: the pid recorded is Patroni's own.
AS_POSTGRES=()
[[ $EUID -eq 0 ]] && AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups)

start_etcd() {
  local n=$1 i cluster=()
  alive etcd "$n" && return 0
  for i in 1 2 3; do cluster+=("etcd$i=http://127.0.0.1:${ETCD_PEER[i-1]}"); done
  # The initial-cluster flags count only on the first start; later the data folder knows its peers.
  launch etcd "$n" "$HA/logs/etcd$n.log" etcd --name "etcd$n" --data-dir "$HA/etcd/$n" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[n-1]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[n-1]}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[n-1]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[n-1]}" \
    --initial-cluster "$(joined "${cluster[@]}")" --initial-cluster-state new --initial-cluster-token osms-ha \
    --logger zap --log-level warn
}

start_pg() {
  local n=$1 conf="$HA/patroni/pg$1.yml" bindir
  alive pg "$n" && return 0
  bindir="$("$ROOT/deploy/local/postgres.sh" bindir)"
  mkdir -p "$HA/patroni" "$HA/pg/archive"
  sed -e "s#@N@#$n#g" -e "s#@REST_PORT@#${PATRONI[n-1]}#g" -e "s#@PG_PORT@#${PG[n-1]}#g" \
      -e "s#@ETCD_HOSTS@#$ETCD_HOSTS#g" -e "s#@DATA@#$HA/pg/data$n#g" -e "s#@BINDIR@#$bindir#g" \
      -e "s#@ARCHIVE@#$HA/pg/archive#g" -e "s#@HA@#$HA#g" "$here/patroni.yml.in" >"$conf"
  touch "$HA/logs/pg$n.log"
  [[ $EUID -eq 0 ]] && chown -R postgres "$HA/pg" "$conf" "$HA/logs/pg$n.log"
  launch pg "$n" "$HA/logs/pg$n.log" "${AS_POSTGRES[@]}" "$PATRONI_VENV/bin/patroni" "$conf"
}

start_kafka() {
  local n=$1 i voters=() data="$HA/kafka/$1" conf="$HA/kafka/broker$1.properties"
  alive kafka "$n" && return 0
  for i in 1 2 3; do voters+=("$i@127.0.0.1:${KAFKA_CONTROLLER[i-1]}"); done
  mkdir -p "$HA/kafka"
  sed -e "s#@ID@#$n#g" -e "s#@VOTERS@#$(joined "${voters[@]}")#g" -e "s#@PORT@#${KAFKA[n-1]}#g" \
      -e "s#@CONTROLLER_PORT@#${KAFKA_CONTROLLER[n-1]}#g" -e "s#@DATA@#$data#g" \
      "$here/kafka.properties.in" >"$conf"
  # One cluster id for the three, made once.
  [[ -f "$HA/kafka/cluster-id" ]] || java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>>"$HA/logs/kafka$n.log" >"$HA/kafka/cluster-id"
  if [[ ! -f "$data/meta.properties" ]]; then
    java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$(cat "$HA/kafka/cluster-id")" -c "$conf" >>"$HA/logs/kafka$n.log" 2>&1
  fi
  # shellcheck disable=SC2086
  launch kafka "$n" "$HA/logs/kafka$n.log" java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$conf"
}

start_service() {
  local svc=$1 n=$2 port
  alive "$svc" "$n" && return 0
  port="$(instance_port "$svc" "$n")"
  # The relays of both instances take turns by an advisory lock; both financing instances are
  # members of the one consumer group and share the partitions.
  launch "$svc" "$n" "$HA/logs/$svc$n.log" \
    "${WITH_HA[@]}" "OSMS_${svc^^}_PORT=$port" "$VENV/bin/python" -m services.common.serve "$svc"
}

write_haproxy_config() {
  local svc n i
  {
    cat <<EOF
# Written by deploy/ha/ha.sh. One frontend a service, round robin over its two instances, which
# leave the rotation while /readyz fails. The writes are idempotent (contract: same reference, same
# answer), so a request whose instance died before answering is sent to the other.
global
    maxconn 2000
    tune.bufsize 65536

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    default-server inter 1s fall 2 rise 2

listen stats
    bind 127.0.0.1:$HA_STATS_PORT
    stats enable
    stats uri /
EOF
    for svc in $SERVICES; do
      printf '\nlisten %s\n    bind 127.0.0.1:%s\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n' \
        "$svc" "${FRONTEND[$svc]}"
      for n in 1 2; do printf '    server %s%s 127.0.0.1:%s check\n' "$svc" "$n" "$(instance_port "$svc" "$n")"; done
    done
    cat <<EOF

# The PostgreSQL primary for tools (psql, pg_dump): Patroni answers 200 on /primary only on the leader.
listen postgres-primary
    bind 127.0.0.1:$HA_PG_PRIMARY_PORT
    mode tcp
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
EOF
    for i in 1 2 3; do printf '    server pg%s 127.0.0.1:%s check port %s\n' "$i" "${PG[i-1]}" "${PATRONI[i-1]}"; done
  } >"$HA/haproxy.cfg"
}

start_haproxy() {
  alive haproxy 1 && return 0
  write_haproxy_config
  haproxy -c -q -f "$HA/haproxy.cfg" || die "invalid $HA/haproxy.cfg"
  launch haproxy 1 "$HA/logs/haproxy.log" haproxy -db -f "$HA/haproxy.cfg"
}

start() {  # kind n
  case "$1" in
    etcd) start_etcd "$2" ;;
    pg) start_pg "$2" ;;
    kafka) start_kafka "$2" ;;
    haproxy) start_haproxy ;;
    contributions|registry|financing|feedback) start_service "$1" "$2" ;;
    *) die "unknown component $1" ;;
  esac
}

# Patroni's view of the cluster: one line a member, "name role state lag".
pg_members() {
  local port
  for port in "${PATRONI[@]}"; do
    curl -fsS --max-time 2 "http://127.0.0.1:$port/cluster" 2>/dev/null | "$VENV/bin/python" -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    print(m["name"], m["role"], m["state"], m.get("lag", 0))' && return 0
  done
  return 1
}

wait_until() {  # seconds description command...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not in time (logs in $HA/logs)"
    sleep 0.5
  done
}
etcd_healthy() { local p; for p in "${ETCD_CLIENT[@]}"; do curl -fsS --max-time 2 "http://127.0.0.1:$p/health" | grep -q '"health":"true"' || return 1; done; }
# A leader and two replicas streaming, one of them synchronous.
pg_whole() {
  local members; members="$(pg_members)" || return 1
  grep -Eq ' (leader|primary) running' <<<"$members" &&
    [[ "$(grep -Ec ' (sync_standby|replica) streaming' <<<"$members")" -eq 2 ]] &&
    grep -q ' sync_standby streaming' <<<"$members"
}
kafka_up() { local p; for p in "${KAFKA[@]}"; do port_open "$p" || return 1; done; }
instance_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }
services_ready() {
  local svc n
  for svc in $SERVICES; do
    for n in 1 2; do instance_ready "$(instance_port "$svc" "$n")" || return 1; done
    instance_ready "${FRONTEND[$svc]}" || return 1
  done
}

up() {
  local started=$SECONDS n svc
  install
  for n in 1 2 3; do start_etcd "$n"; done
  wait_until 60 "etcd healthy" etcd_healthy
  for n in 1 2 3; do start_pg "$n"; done
  # The first start: one member initialises the cluster, the others copy it (pg_basebackup).
  wait_until 240 "PostgreSQL: a leader and two streaming replicas" pg_whole
  for n in 1 2 3; do start_kafka "$n"; done
  wait_until 120 "three Kafka brokers" kafka_up
  start_haproxy
  # Databases migrated, topics created with replication 3 (retried while the brokers register).
  # Through HAProxy's primary port: alembic's URL parser takes one host only.
  wait_until 180 "osms-migrate" "${WITH_HA[@]}" OSMS_DATABASE_URL="$PRIMARY_URL" "$VENV/bin/python" -m services.common.bootstrap
  "${WITH_HA[@]}" "$VENV/bin/python" -m services.common.keys local "$HA/keys.env" >&2
  for svc in $SERVICES; do for n in 1 2; do start_service "$svc" "$n"; done; done
  wait_until 180 "every instance and frontend ready" services_ready
  log "HA topology ready in $((SECONDS - started)) s:"
  where
}

where() {
  local svc n
  printf '  %-15s %s\n' "API keys" "$HA/keys.env"
  for svc in $SERVICES; do
    printf '  %-15s http://127.0.0.1:%s  (HAProxy; instances :%s, logs %s/logs/%s{1,2}.log)\n' \
      "$svc" "${FRONTEND[$svc]}" "${INSTANCES[$svc]/,/ and :}" "$HA" "$svc"
  done
  printf '  %-15s %s\n' "PostgreSQL" "$DATABASE_URL"
  printf '  %-15s %s  (HAProxy to the primary)\n' "" "$PRIMARY_URL"
  printf '  %-15s %s  (REST: /cluster; patronictl -c %s/patroni/pg1.yml list)\n' "Patroni" "$(joined "${PATRONI[@]/#/127.0.0.1:}")" "$HA"
  printf '  %-15s %s\n' "Kafka" "$KAFKA_BOOTSTRAP"
  printf '  %-15s %s\n' "etcd" "$ETCD_HOSTS"
  printf '  %-15s http://127.0.0.1:%s/\n' "HAProxy stats" "$HA_STATS_PORT"
}

stop_one() {  # kind n [seconds]
  alive "$1" "$2" || { rm -f "$(pidfile "$1" "$2")"; return 0; }
  local pid; pid="$(cat "$(pidfile "$1" "$2")")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((${3:-15} * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$(pidfile "$1" "$2")"
}

down() {
  local svc n any=0
  for f in "$HA"/run/*.pid; do [[ -f "$f" ]] && any=1; done
  ((any)) || return 0
  for svc in $SERVICES; do for n in 1 2; do stop_one "$svc" "$n"; done; done
  stop_one haproxy 1
  for n in 1 2 3; do stop_one kafka "$n" 30; done
  # Patroni stops its PostgreSQL on SIGTERM; the replicas first, so the leader need not wait for them.
  for n in 3 2 1; do stop_one pg "$n" 60; done
  for n in 1 2 3; do stop_one etcd "$n"; done
  log "HA topology stopped (data in $HA)"
}

# SIGKILL, as a machine that loses power: for a PostgreSQL member, Patroni and its postmaster both.
kill_now() {  # kind n
  alive "$1" "$2" || return 0
  local pid; pid="$(cat "$(pidfile "$1" "$2")")"
  local postmaster=""
  [[ "$1" == pg && -f "$HA/pg/data$2/postmaster.pid" ]] && postmaster="$(head -1 "$HA/pg/data$2/postmaster.pid")"
  kill -9 "$pid" ${postmaster:+"$postmaster"} 2>/dev/null || true
}
# Waits until a killed member's processes are gone (PostgreSQL's backends follow their postmaster).
wait_dead() {  # kind n
  local pid; pid="$(cat "$(pidfile "$1" "$2")" 2>/dev/null)" || return 0
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid")" != Z* ]] && ((SECONDS < deadline)); do sleep 0.1; done
  if [[ "$1" == pg ]]; then
    while port_open "${PG[$2-1]}" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
}

status() {
  local rc=0 kind n svc
  for kind in etcd pg kafka; do
    for n in 1 2 3; do
      printf '  %-16s %s\n' "$kind$n" "$(alive "$kind" "$n" && echo "running (pid $(cat "$(pidfile "$kind" "$n")"))" || { rc=1; echo down; })"
    done
  done
  pg_members 2>/dev/null | sed 's/^/    patroni: /' || true
  printf '  %-16s %s\n' haproxy "$(alive haproxy 1 && echo running || { rc=1; echo down; })"
  for svc in $SERVICES; do
    for n in 1 2; do
      local state=down
      if alive "$svc" "$n"; then
        instance_ready "$(instance_port "$svc" "$n")" && state="ready on :$(instance_port "$svc" "$n")" || state="running, not ready"
      fi
      [[ "$state" == ready* ]] || rc=1
      printf '  %-16s %s\n' "$svc$n" "$state"
    done
  done
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  where) where ;;
  start) start "$2" "${3:-1}" ;;
  # A rolling restart's step (e.g. after an upgrade): stopped gracefully, started again.
  restart) stop_one "$2" "${3:-1}" 60; start "$2" "${3:-1}" ;;
  kill)
    shift
    (($# >= 2 && $# % 2 == 0)) || die "usage: ha.sh kill KIND N [KIND N ...]"
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i += 2)); do kill_now "${args[i]}" "${args[i+1]}"; done
    for ((i = 0; i < ${#args[@]}; i += 2)); do wait_dead "${args[i]}" "${args[i+1]}"; done
    ;;
  *) die "usage: ha.sh up|down|status|where|start KIND N|restart KIND N|kill KIND N [KIND N ...]" ;;
esac
