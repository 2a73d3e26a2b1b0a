#!/usr/bin/env bash
# Run the three local servers in the background, on loopback, state in $SPENDLENS_STATE_DIR:
#   bentoml  the categorization API  (spendlens serve)  http://127.0.0.1:3000
#   mlflow   the tracking/registry UI                   http://127.0.0.1:5000
#   prefect  the flows dashboard                        http://127.0.0.1:4200
#   flows    `spendlens flows serve`: registers the deployments (monitor hourly, retrain
#            nightly, backfill/train/... on demand) and runs their flow runs
# Usage: ops/servers.sh start|stop|status
# Logs in <state>/logs/<name>.log, pids in <state>/run/<name>.pid. `start` skips a server that
# already runs and waits until each answers its health URL; `stop` is harmless when none runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.venv/bin
STATE=${SPENDLENS_STATE_DIR:-$ROOT/.spendlens}
STATE=$(realpath -m "$STATE")
export SPENDLENS_STATE_DIR=$STATE
LOGS=$STATE/logs
RUN=$STATE/run
HOST=127.0.0.1
START_TIMEOUT=${START_TIMEOUT:-180} # seconds per server; start-up is ~10-25 s on 2 cores

# Keep every tool's state local and offline (the Makefile exports the same).
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true BENTOML_DO_NOT_TRACK=true
export PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
export BENTOML_HOME=${BENTOML_HOME:-$STATE/bentoml}
export PREFECT_HOME=${PREFECT_HOME:-$STATE/prefect}
export PREFECT_SERVER_UI_STATIC_DIRECTORY=${PREFECT_SERVER_UI_STATIC_DIRECTORY:-$STATE/prefect/ui}
export MPLCONFIGDIR=${MPLCONFIGDIR:-$STATE/mpl}

SERVERS=(bentoml mlflow prefect flows)

port_of() {
    case $1 in bentoml) echo 3000 ;; mlflow) echo 5000 ;; prefect | flows) echo 4200 ;; esac
}

url_of() { echo "http://$HOST:$(port_of "$1")"; }

health_of() {
    case $1 in
        bentoml) echo "$(url_of bentoml)/readyz" ;;
        mlflow) echo "$(url_of mlflow)/health" ;;
        prefect) echo "$(url_of prefect)/api/health" ;;
    esac
}

command_of() { # sets CMD to the argv that runs server $1
    local port
    port=$(port_of "$1")
    case $1 in
        bentoml) CMD=("$BIN/spendlens" serve --host "$HOST" --port "$port") ;;
        mlflow) CMD=("$BIN/mlflow" server --backend-store-uri "sqlite:///$STATE/mlflow.db"
            --artifacts-destination "$STATE/mlartifacts" --host "$HOST" --port "$port" --workers 1) ;;
        prefect) CMD=("$BIN/prefect" server start --host "$HOST" --port "$port") ;;
        flows) CMD=(env "PREFECT_API_URL=$(url_of prefect)/api" "$BIN/spendlens" flows serve) ;;
    esac
}

pid_of() { # the recorded pid, if that process is still alive
    local file=$RUN/$1.pid pid
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
    if [[ $1 == flows ]]; then # up once its deployments are registered with the server
        local count
        count=$(curl -fsS --max-time 3 -X POST "$(url_of prefect)/api/deployments/count" \
            2>/dev/null) || return 1
        [[ ${count:-0} -gt 0 ]] && pid_of flows >/dev/null
        return
    fi
    curl -fsS -o /dev/null --max-time 3 "$(health_of "$1")" 2>/dev/null
}

start_one() {
    local name=$1 pid
    if pid=$(pid_of "$name"); then
        echo "$name: already running (pid $pid)"
        return
    fi
    if answers "$name"; then
        echo "$name: something already answers on $(url_of "$name") (not started by this script)"
        return
    fi
    mkdir -p "$LOGS" "$RUN" "$PREFECT_HOME" "$BENTOML_HOME"
    # setsid: its own process group, so `stop` takes its workers down with it.
    command_of "$name"
    nohup setsid "${CMD[@]}" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
    echo "$name: starting (pid $!, log $LOGS/$name.log)"
}

wait_one() {
    local name=$1 waited=0
    until answers "$name"; do
        if [[ -f $RUN/$name.pid ]] && ! pid_of "$name" >/dev/null; then
            echo "error: $name exited during start-up; see $LOGS/$name.log" >&2
            tail -n 20 "$LOGS/$name.log" >&2 || true
            return 1
        fi
        if ((waited >= START_TIMEOUT)); then
            echo "error: $name did not answer $(health_of "$name") within ${START_TIMEOUT}s;" \
                "see $LOGS/$name.log" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "$name: up at $(url_of "$name")"
}

stop_one() {
    local name=$1 pid i
    if pid=$(pid_of "$name"); then
        echo "$name: stopping (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    else
        echo "$name: not running"
    fi
    rm -f "$RUN/$name.pid"
}

status_one() {
    local name=$1 pid state
    if pid=$(pid_of "$name"); then
        if answers "$name"; then state=up; else state="running, not answering yet"; fi
        echo "$name: $state (pid $pid) $(url_of "$name")"
    else
        echo "$name: stopped"
    fi
}

case ${1:-} in
    start)
        for name in bentoml mlflow prefect; do start_one "$name"; done
        failed=0
        # The flows process registers its deployments with the Prefect server: start it after.
        if wait_one prefect; then start_one flows; else failed=1; fi
        for name in bentoml mlflow flows; do wait_one "$name" || failed=1; done
        exit "$failed"
        ;;
    stop) for name in flows bentoml mlflow prefect; do stop_one "$name"; done ;;
    status) for name in "${SERVERS[@]}"; do status_one "$name"; done ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
