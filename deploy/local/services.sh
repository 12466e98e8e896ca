#!/usr/bin/env bash
# Runs the four services and the web console. run: foreground, Ctrl-C stops everything it started.
# up: background, returns when every /readyz answers 200. down: stops what up started.
set -euo pipefail
here="$(dirname "$0")"
source "$here/env.sh"

# Alive and not a zombie.
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null && [[ "$(ps -o stat= -p "$(cat "$1")")" != Z* ]]; }

# Starts what is not running and leaves what runs, so `up` after a crash brings back what died.
start_all() {
  "$here/install.sh"
  load_ports
  # Two parts set to one port: the second cannot bind, and the first answers its readiness checks.
  local -A owner=()
  local part at
  for part in $SERVICES console; do
    if [[ $part == console ]]; then at=$CONSOLE_PORT; else at="${SERVICE_PORT[$part]}"; fi
    [[ -n "${owner[$at]:-}" ]] && die "$part and ${owner[$at]} are both set to port $at"
    owner[$at]=$part
  done
  "$here/infra.sh" start
  # Topics and databases first, so four services starting at once do not race to create them.
  with_servers "$VENV/bin/python" -m services.common.bootstrap
  with_servers "$VENV/bin/python" -m services.common.keys local "$LOCAL/keys.env" >&2
  local svc port
  local -a multiproc
  # financing runs its consumers in more than one process: they write their metrics to one folder
  # (prometheus_client's multiprocess mode), emptied at each start, and its /metrics adds them up.
  local metrics="$LOCAL/run/metrics-financing"
  # A fresh start empties the metrics folder; a restart of one part keeps the others' files.
  alive "$LOCAL/run/financing.pid" || { rm -rf "$metrics" && mkdir -p "$metrics"; }
  for svc in $SERVICES; do
    port="${SERVICE_PORT[$svc]}"
    if alive "$LOCAL/run/$svc.pid"; then log "$svc already running (pid $(cat "$LOCAL/run/$svc.pid"))"; continue; fi
    port_open "$port" && die "port $port ($svc) is taken by another program (set OSMS_${svc^^}_PORT)"
    # Only for financing: prometheus_client takes the variable's presence, even empty, for the mode.
    multiproc=()
    [[ "$svc" == financing ]] && multiproc=("PROMETHEUS_MULTIPROC_DIR=$metrics")
    # Plain assignments, not the with_servers function: $! must be python's own pid (env execs it).
    OSMS_SERVICE="$svc" OSMS_DATABASE_URL="$OSMS_DATABASE_URL_EFFECTIVE" \
      OSMS_KAFKA_BOOTSTRAP="$OSMS_KAFKA_BOOTSTRAP_EFFECTIVE" \
      nohup env "${multiproc[@]}" "$VENV/bin/python" -m services.common.serve "$svc" >>"$LOCAL/logs/$svc.log" 2>&1 &
    echo $! >"$LOCAL/run/$svc.pid"
  done
  # The web console (services/console): its pages, and a proxy to the services' APIs at their ports.
  if ! alive "$LOCAL/run/console.pid"; then
    port_open "$CONSOLE_PORT" && die "port $CONSOLE_PORT (console) is taken by another program (set OSMS_CONSOLE_PORT)"
    nohup "$VENV/bin/python" -m services.common.serve console >>"$LOCAL/logs/console.log" 2>&1 &
    echo $! >"$LOCAL/run/console.pid"
  fi
  # More members of the financing consumer group, beside the one in the HTTP process: the
  # partitions are shared, and a batch's Python work overlaps another's database work.
  local n
  for ((n = 1; n <= ${OSMS_FINANCING_CONSUMER_WORKERS:-1}; n++)); do
    alive "$LOCAL/run/financing-consumer-$n.pid" && continue
    OSMS_DATABASE_URL="$OSMS_DATABASE_URL_EFFECTIVE" OSMS_KAFKA_BOOTSTRAP="$OSMS_KAFKA_BOOTSTRAP_EFFECTIVE" \
      PROMETHEUS_MULTIPROC_DIR="$metrics" \
      nohup "$VENV/bin/python" -m services.common.worker financing consumers >>"$LOCAL/logs/financing.log" 2>&1 &
    echo $! >"$LOCAL/run/financing-consumer-$n.pid"
  done
}

wait_ready() {
  local svc port deadline=$((SECONDS + ${1:-120}))
  for svc in $SERVICES; do
    port="${SERVICE_PORT[$svc]}"
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
      ((SECONDS < deadline)) || { tail -20 "$LOCAL/logs/$svc.log" >&2; die "$svc not ready on :$port"; }
      kill -0 "$(cat "$LOCAL/run/$svc.pid")" 2>/dev/null || { tail -20 "$LOCAL/logs/$svc.log" >&2; die "$svc exited"; }
      sleep 0.2
    done
  done
  until curl -fsS -o /dev/null "http://127.0.0.1:$CONSOLE_PORT/readyz" 2>/dev/null; do
    ((SECONDS < deadline)) || { tail -20 "$LOCAL/logs/console.log" >&2; die "console not ready"; }
    sleep 0.2
  done
  local f
  for f in "$LOCAL"/run/financing-consumer-*.pid; do
    [[ -f "$f" ]] || continue
    kill -0 "$(cat "$f")" 2>/dev/null || { tail -20 "$LOCAL/logs/financing.log" >&2; die "a financing consumer worker exited"; }
  done
  # Ready, and each still the process this script started (another program may hold its port).
  for svc in $SERVICES; do
    alive "$LOCAL/run/$svc.pid" || { tail -20 "$LOCAL/logs/$svc.log" >&2; die "$svc exited"; }
  done
}

status() {
  load_ports
  local rc=0 svc f state
  # The local servers count (down: status fails); servers of one's own are only named.
  if [[ -n "${OSMS_DATABASE_URL:-}" ]]; then state="external (OSMS_DATABASE_URL)"
  elif "$here/postgres.sh" status >/dev/null 2>&1; then state="running on :$PG_PORT"
  else state=down; rc=1; fi
  printf '  %-22s %s\n' postgresql "$state"
  if [[ -n "${OSMS_KAFKA_BOOTSTRAP:-}" ]]; then state="external (OSMS_KAFKA_BOOTSTRAP=$OSMS_KAFKA_BOOTSTRAP)"
  else state="$("$here/kafka.sh" status 2>/dev/null)" || { state=down; rc=1; }; fi
  printf '  %-22s %s\n' kafka "$state"
  for svc in $SERVICES; do
    if ! alive "$LOCAL/run/$svc.pid"; then printf '  %-22s down\n' "$svc"; rc=1; continue; fi
    if curl -fsS -o /dev/null "http://127.0.0.1:${SERVICE_PORT[$svc]}/readyz" 2>/dev/null; then
      printf '  %-22s ready on :%s (pid %s)\n' "$svc" "${SERVICE_PORT[$svc]}" "$(cat "$LOCAL/run/$svc.pid")"
    else
      printf '  %-22s running, not ready, on :%s\n' "$svc" "${SERVICE_PORT[$svc]}"; rc=1
    fi
  done
  for f in "$LOCAL"/run/financing-consumer-*.pid; do
    [[ -f "$f" ]] || continue
    if alive "$f"; then state="running (pid $(cat "$f"))"; else state=down; rc=1; fi
    printf '  %-22s %s\n' "$(basename "$f" .pid)" "$state"
  done
  if alive "$LOCAL/run/console.pid"; then state="running on :$CONSOLE_PORT (pid $(cat "$LOCAL/run/console.pid"))"
  else state=down; rc=1; fi
  printf '  %-22s %s\n' console "$state"
  return $rc
}

stop_services() {
  local f pid
  for f in "$LOCAL"/run/financing-consumer-*.pid; do stop_pid "$f"; done
  stop_pid "$LOCAL/run/console.pid"
  for svc in $SERVICES; do stop_pid "$LOCAL/run/$svc.pid"; done
}

stop_pid() {
  [[ -f "$1" ]] || return 0
  local pid; pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

print_where() {
  load_ports
  printf '  API keys (admin, operator, payment_gateway, state_budget): %s\n' "$LOCAL/keys.env"
  printf '  %-14s http://127.0.0.1:%s  (sign in with a key of keys.env; log .local/logs/console.log)\n' console "$CONSOLE_PORT"
  local svc
  for svc in $SERVICES; do
    printf '  %-14s http://127.0.0.1:%s  (docs /docs, log .local/logs/%s.log)\n' "$svc" "${SERVICE_PORT[$svc]}" "$svc"
  done
}

case "${1:-}" in
  run)
    started=$SECONDS
    tail_pid=""
    trap 'log "stopping"; [[ -n "$tail_pid" ]] && kill "$tail_pid" 2>/dev/null; stop_services; "$here/infra.sh" stop; exit 0' INT TERM
    start_all
    wait_ready 180
    log "ready in $((SECONDS - started)) s:"; print_where
    log "Ctrl-C stops everything"
    tail -n0 -F "$LOCAL"/logs/{contributions,registry,financing,feedback,console}.log &
    tail_pid=$!
    wait
    ;;
  up)
    started=$SECONDS
    start_all
    wait_ready 180 || { stop_services; exit 1; }
    log "ready in $((SECONDS - started)) s:"; print_where
    ;;
  status)
    status
    ;;
  down)
    stop_services
    "$here/infra.sh" stop
    ;;
  *) die "usage: services.sh run|up|down|status" ;;
esac
