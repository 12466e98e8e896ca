#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) in .local/kafka: jars resolved from Maven Central by
# the coordinates in deploy/kafka/pom.xml, storage formatted with kafka.tools.StorageTool,
# broker run as kafka.Kafka with a small heap. Usage: kafka.sh install|start|stop|status
set -euo pipefail
source "$(dirname "$0")/env.sh"
POM="$ROOT/deploy/kafka/pom.xml"
LIB="$KAFKA_LIB"
PIDFILE="$LOCAL/run/kafka.pid"

install() {
  command -v java >/dev/null || die "java (17+) is required"
  # The jar list is stamped with the pom's hash: a changed pin re-resolves, nothing else does.
  local stamp; stamp="$(sha256sum "$POM" | cut -c1-16)"
  [[ -f "$LIB/.stamp" && "$(cat "$LIB/.stamp")" == "$stamp" ]] && return 0
  command -v mvn >/dev/null || {
    [[ $EUID -eq 0 ]] || die "maven is required to fetch the Kafka jars: apt-get install maven"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
  }
  log "resolving Kafka jars from Maven Central"
  rm -rf "$LIB"; mkdir -p "$LIB"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" -DincludeScope=runtime
  echo "$stamp" >"$LIB/.stamp"
}

# Alive and not a zombie (a killed broker whose parent is gone may linger unreaped).
running() {
  [[ -f "$PIDFILE" ]] || return 1
  local state; state="$(ps -o stat= -p "$(cat "$PIDFILE")" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

start() {
  install
  if running; then log "Kafka already running on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another program (set OSMS_KAFKA_PORT)"
  local data="$KAFKA_HOME/data" conf="$KAFKA_HOME/server.properties"
  mkdir -p "$KAFKA_HOME"
  sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@DATA@#$data#g" "$ROOT/deploy/kafka/server.properties.in" >"$conf"
  if [[ ! -f "$data/meta.properties" ]]; then
    log "formatting Kafka storage $data"
    java -cp "$LIB/*" kafka.tools.StorageTool format -t "$(java -cp "$LIB/*" kafka.tools.StorageTool random-uuid)" \
      -c "$conf" >/dev/null
  fi
  # shellcheck disable=SC2086
  nohup java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true -cp "$LIB/*" kafka.Kafka "$conf" \
    >>"$KAFKA_LOG" 2>&1 &
  echo $! >"$PIDFILE"
  wait_port "$KAFKA_PORT" 90 || { tail -20 "$KAFKA_LOG" >&2; die "Kafka did not open port $KAFKA_PORT"; }
  log "Kafka on 127.0.0.1:$KAFKA_PORT (data $data, log $KAFKA_LOG)"
}

stop() {
  running || return 0
  local pid; pid="$(cat "$PIDFILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"; log "Kafka stopped"
}

status() { running && echo "running (pid $(cat "$PIDFILE"))" || { echo "stopped"; return 1; }; }

"${1:-start}"
