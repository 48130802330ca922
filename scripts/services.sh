#!/usr/bin/env bash
# Run the four services and the web view as background processes on this machine.
#   scripts/services.sh up       start them (one replica each unless REPLICAS_<SERVICE>=n)
#   scripts/services.sh down     stop them (SIGTERM, then SIGKILL after 30 s)
#   scripts/services.sh status   list the running replicas
# Configuration: config/feeds.yaml and config/subscriptions.yaml when they exist, else
# the .example files (the subscriptions file is imported into the subscriptions topic
# first: same names replaced, others kept); any variable of README "Configuration" may be
# exported before.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run="$root/.run"
logs="$run/logs"
pids="$run/pids"
python="$root/.venv/bin/python"
services=(fetcher dedup classifier notifier web)

config_file() {
    if [ -f "$root/config/$1.yaml" ]; then echo "$root/config/$1.yaml"
    else echo "$root/config/$1.example.yaml"; fi
}

up() {
    export FETCHER_FEEDS=${FETCHER_FEEDS:-$(config_file feeds)}
    subscriptions=${SUBSCRIPTIONS_FILE:-$(config_file subscriptions)}
    export WIREWATCH_DATA_DIR=${WIREWATCH_DATA_DIR:-$run/data}
    "$root/.venv/bin/wirewatch" subscriptions import "$subscriptions"
    mkdir -p "$logs" "$pids"
    for service in "${services[@]}"; do
        var="REPLICAS_${service^^}"
        for ((i = 0; i < ${!var:-1}; i++)); do
            pidfile="$pids/$service-$i.pid"
            if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
                echo "$service-$i: already running (pid $(cat "$pidfile"))"
                continue
            fi
            (cd "$root" && exec setsid "$python" -m "services.$service" \
                >>"$logs/$service-$i.log" 2>&1 </dev/null) &
            echo $! >"$pidfile"
        done
    done
    sleep 3
    failed=0
    for pidfile in "$pids"/*.pid; do
        name=$(basename "$pidfile" .pid)
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            echo "$name: exited at start; the end of $logs/$name.log:" >&2
            tail -n 5 "$logs/$name.log" >&2
            rm -f "$pidfile"
            failed=1
        fi
    done
    echo "feeds: $FETCHER_FEEDS"
    echo "subscriptions: imported from $subscriptions (see: wirewatch subscriptions list)"
    echo "web view: http://${WEB_HOST:-127.0.0.1}:${WEB_PORT:-8080} (token: ${WEB_TOKEN:-in $WIREWATCH_DATA_DIR/web/token})"
    echo "logs: $logs/<service>-<replica>.log   broker log: $run/kafka/server.log"
    echo "stop with: make down"
    return $failed
}

down() {
    [ -d "$pids" ] || return 0
    for pidfile in "$pids"/*.pid; do
        [ -e "$pidfile" ] || continue
        kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    done
    for pidfile in "$pids"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
        echo "$(basename "$pidfile" .pid): stopped"
        rm -f "$pidfile"
    done
}

status() {
    for pidfile in "$pids"/*.pid; do
        [ -e "$pidfile" ] || { echo "no services running"; return 0; }
        name=$(basename "$pidfile" .pid)
        if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$name: running (pid $(cat "$pidfile"))"
        else echo "$name: not running"; fi
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
