#!/usr/bin/env bash
# Obtain, start and stop a single-node KRaft Apache Kafka broker on 127.0.0.1.
#   scripts/kafka.sh fetch   resolve the broker jars from Maven Central (cached)
#   scripts/kafka.sh start   format storage if new, start in the background, wait until ready
#   scripts/kafka.sh stop    stop the broker started by `start`
#   scripts/kafka.sh status  exit 0 when the broker answers
# Environment: KAFKA_PORT (9092), CONTROLLER_PORT (9093), KAFKA_DATA (.run/kafka), JAVA (java).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
infra="$root/infra/kafka"
jars="$infra/target/dependency"
KAFKA_PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${CONTROLLER_PORT:-9093}
KAFKA_DATA=${KAFKA_DATA:-$root/.run/kafka}
JAVA=${JAVA:-java}
pidfile="$KAFKA_DATA/kafka.pid"
export KAFKA_PORT CONTROLLER_PORT KAFKA_DATA

fetch() {
    if compgen -G "$jars/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    echo "kafka: resolving broker jars from Maven Central (once)"
    (cd "$infra" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime)
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

running() {
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
    fetch
    if running; then
        echo "kafka: already running (pid $(cat "$pidfile")) on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    if port_open; then
        echo "kafka: port $KAFKA_PORT is taken by another process; set KAFKA_PORT" >&2
        return 1
    fi
    mkdir -p "$KAFKA_DATA"
    sed -e "s|\${KAFKA_PORT}|$KAFKA_PORT|g" -e "s|\${CONTROLLER_PORT}|$CONTROLLER_PORT|g" \
        -e "s|\${KAFKA_DATA}|$KAFKA_DATA|g" "$infra/server.properties" >"$KAFKA_DATA/server.properties"
    local cp="$jars/*"
    local jvm=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
        "-Dlog4j.configuration=file:$infra/log4j.properties" "-Dkafka.logs.dir=$KAFKA_DATA")
    if [[ ! -f "$KAFKA_DATA/log/meta.properties" ]]; then
        "$JAVA" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format \
            -t "$("$JAVA" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null)" \
            -c "$KAFKA_DATA/server.properties" >/dev/null
    fi
    nohup "$JAVA" "${jvm[@]}" -cp "$cp" kafka.Kafka "$KAFKA_DATA/server.properties" \
        >"$KAFKA_DATA/stdout.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
        if port_open; then
            echo "kafka: ready on 127.0.0.1:$KAFKA_PORT (logs: $KAFKA_DATA/server.log)"
            return 0
        fi
        if ! running; then
            echo "kafka: the broker exited during start-up; see $KAFKA_DATA/stdout.log" >&2
            tail -n 20 "$KAFKA_DATA/stdout.log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    echo "kafka: not ready after 60 s; see $KAFKA_DATA/server.log" >&2
    return 1
}

stop() {
    if ! running; then
        rm -f "$pidfile"
        return 0
    fi
    local pid
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka: stopped"; return 0; }
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) running && port_open ;;
    *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
