#!/usr/bin/env bash
# A local monitoring stack on loopback for the post-GA watch: Prometheus, Alertmanager, the Pushgateway and
# node_exporter (its textfile collector only), from Debian's packages (scripts/services.sh installs them), each a
# background process with its pid file, log and data under MONITORING_DIR. Idempotent: a service already running is
# left as it is (stop first to change its configuration).
#
# Usage: scripts/monitoring.sh start|stop|status
#
#   MONITORING_DIR       state directory (default $PWD/.cache/monitoring)
#   PROMETHEUS_PORT      19090       PUSHGATEWAY_PORT   19091
#   ALERTMANAGER_PORT    19093       NODE_EXPORTER_PORT 19100
#   TEXTFILE_DIR         node_exporter's textfile directory (required for start)
#   RULES_FILE           the rule file Prometheus loads (none when empty); reload with POST /-/reload
#   WEBHOOK_URL          Alertmanager's webhook receiver (send_resolved); empty: a receiver that sends nothing
#   SCRAPE_INTERVAL, EVALUATION_INTERVAL                         default 15s
#   ALERTMANAGER_GROUP_WAIT 30s, ALERTMANAGER_GROUP_INTERVAL 5m, ALERTMANAGER_REPEAT_INTERVAL 4h
#   READY_TIMEOUT        seconds each service has to answer its readiness endpoint (default 30)
set -euo pipefail

DIR=${MONITORING_DIR:-$PWD/.cache/monitoring}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090}
PUSHGATEWAY_PORT=${PUSHGATEWAY_PORT:-19091}
ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-19093}
NODE_EXPORTER_PORT=${NODE_EXPORTER_PORT:-19100}
TEXTFILE_DIR=${TEXTFILE_DIR:-}
RULES_FILE=${RULES_FILE:-}
WEBHOOK_URL=${WEBHOOK_URL:-}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-15s}
EVALUATION_INTERVAL=${EVALUATION_INTERVAL:-15s}
ALERTMANAGER_GROUP_WAIT=${ALERTMANAGER_GROUP_WAIT:-30s}
ALERTMANAGER_GROUP_INTERVAL=${ALERTMANAGER_GROUP_INTERVAL:-5m}
ALERTMANAGER_REPEAT_INTERVAL=${ALERTMANAGER_REPEAT_INTERVAL:-4h}
READY_TIMEOUT=${READY_TIMEOUT:-30}
HOST=127.0.0.1
# in start order: what Prometheus sends to and scrapes is up before it
SERVICES=(alertmanager pushgateway node_exporter prometheus)

die() { echo "monitoring: $*" >&2; exit 2; }

check_settings() {
  local name value
  for name in PROMETHEUS_PORT PUSHGATEWAY_PORT ALERTMANAGER_PORT NODE_EXPORTER_PORT; do
    value=${!name}
    [[ $value =~ ^[0-9]{1,5}$ ]] && ((value > 0 && value < 65536)) || die "$name is '$value': expected a port number (1-65535)"
  done
  for name in SCRAPE_INTERVAL EVALUATION_INTERVAL ALERTMANAGER_GROUP_WAIT ALERTMANAGER_GROUP_INTERVAL ALERTMANAGER_REPEAT_INTERVAL; do
    value=${!name}
    [[ $value =~ ^[0-9]+(ms|s|m|h|d)$ ]] || die "$name is '$value': expected a duration such as 15s, 500ms or 5m"
  done
  [[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "READY_TIMEOUT is '$READY_TIMEOUT': expected seconds"
  # values written into YAML: no quote, backslash or newline can break out of their string
  for name in RULES_FILE WEBHOOK_URL TEXTFILE_DIR DIR; do
    value=${!name}
    [[ $value != *[\"\\$'\n']* ]] || die "$name holds a quote, a backslash or a newline: '$value'"
  done
  [ -z "$WEBHOOK_URL" ] || [[ $WEBHOOK_URL =~ ^https?://[^[:space:]]+$ ]] || die "WEBHOOK_URL is '$WEBHOOK_URL': expected an http(s) URL"
}

binary() {
  case $1 in
    prometheus) echo prometheus ;;
    alertmanager) echo prometheus-alertmanager ;;
    pushgateway) echo prometheus-pushgateway ;;
    node_exporter) echo prometheus-node-exporter ;;
  esac
}

port() {
  case $1 in
    prometheus) echo "$PROMETHEUS_PORT" ;;
    alertmanager) echo "$ALERTMANAGER_PORT" ;;
    pushgateway) echo "$PUSHGATEWAY_PORT" ;;
    node_exporter) echo "$NODE_EXPORTER_PORT" ;;
  esac
}

# node_exporter has no readiness endpoint: its metrics page answering is ready
ready_path() { if [ "$1" = node_exporter ]; then echo /metrics; else echo /-/ready; fi; }

pidfile() { echo "$DIR/$1.pid"; }

# the pid of the service when it runs (the pid file names a live process of its binary), else nothing
running_pid() {
  local file pid
  file=$(pidfile "$1")
  [ -f "$file" ] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  # a pid the system gave to another program since is not ours
  [ "$(basename "$(head -z -n 1 "/proc/$pid/cmdline" | tr -d '\0')")" = "$(binary "$1")" ] || return 1
  echo "$pid"
}

write_prometheus_config() {
  local rules=""
  [ -z "$RULES_FILE" ] || rules=$'rule_files:\n'"  - \"$RULES_FILE\""
  cat >"$DIR/prometheus.yml" <<EOF
# written by scripts/monitoring.sh
global:
  scrape_interval: $SCRAPE_INTERVAL
  evaluation_interval: $EVALUATION_INTERVAL
$rules
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["$HOST:$ALERTMANAGER_PORT"]
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["$HOST:$PROMETHEUS_PORT"]
  # the textfile collector: the watch's files in TEXTFILE_DIR
  - job_name: node
    static_configs:
      - targets: ["$HOST:$NODE_EXPORTER_PORT"]
  # pushed groups keep their own job and environment labels, and get no instance label
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["$HOST:$PUSHGATEWAY_PORT"]
EOF
}

write_alertmanager_config() {
  local receiver
  if [ -n "$WEBHOOK_URL" ]; then
    receiver=$'    webhook_configs:\n'"      - url: \"$WEBHOOK_URL\""$'\n        send_resolved: true'
  else
    receiver="    # no WEBHOOK_URL: alerts are kept and shown, sent nowhere"
  fi
  cat >"$DIR/alertmanager.yml" <<EOF
# written by scripts/monitoring.sh
route:
  receiver: default
  group_by: [alertname, environment]
  group_wait: $ALERTMANAGER_GROUP_WAIT
  group_interval: $ALERTMANAGER_GROUP_INTERVAL
  repeat_interval: $ALERTMANAGER_REPEAT_INTERVAL
receivers:
  - name: default
$receiver
EOF
}

# the service's command line, into ARGS
command_line() {
  local address="$HOST:$(port "$1")"
  case $1 in
    prometheus)
      ARGS=(prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus-data"
            --web.listen-address="$address" --web.enable-lifecycle) ;;
    alertmanager)
      # no cluster: a single instance gossips with nobody
      ARGS=(prometheus-alertmanager --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/alertmanager-data"
            --web.listen-address="$address" --cluster.listen-address=) ;;
    pushgateway)
      ARGS=(prometheus-pushgateway --web.listen-address="$address" --persistence.file="$DIR/pushgateway.data") ;;
    node_exporter)
      ARGS=(prometheus-node-exporter --collector.disable-defaults --collector.textfile
            --collector.textfile.directory="$TEXTFILE_DIR" --web.listen-address="$address") ;;
  esac
}

start_one() {
  local name=$1 pid log url
  if pid=$(running_pid "$name"); then
    echo "monitoring: $name already running (pid $pid) on $HOST:$(port "$name")"
    return 0
  fi
  command -v "$(binary "$name")" >/dev/null || die "$(binary "$name") is not installed: run scripts/services.sh install (make services)"
  case $name in
    prometheus) write_prometheus_config ;;
    alertmanager) write_alertmanager_config ;;
  esac
  log="$DIR/$name.log"
  command_line "$name"
  nohup "${ARGS[@]}" >>"$log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
  url="http://$HOST:$(port "$name")$(ready_path "$name")"
  for _ in $(seq 1 $((READY_TIMEOUT * 5))); do
    if curl --silent --fail --max-time 2 --output /dev/null "$url"; then
      echo "monitoring: $name ready on $HOST:$(port "$name") (pid $(<"$(pidfile "$name")"), log $log)"
      return 0
    fi
    # alive is enough here: until nohup has exec'd the service, its command line is not yet the service's
    if ! kill -0 "$(<"$(pidfile "$name")")" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "monitoring: $name did not become ready at $url; the end of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stop_one() {
  local name=$1 pid
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pidfile "$name")"
    echo "monitoring: $name not running"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    running_pid "$name" >/dev/null || break
    sleep 0.2
  done
  if running_pid "$name" >/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pidfile "$name")"
  echo "monitoring: $name stopped (pid $pid)"
}

status() {
  local name pid down=0
  for name in "${SERVICES[@]}"; do
    if pid=$(running_pid "$name"); then
      echo "$name: running (pid $pid) http://$HOST:$(port "$name")"
    else
      echo "$name: stopped"
      down=1
    fi
  done
  return $down
}

check_settings
case "${1:-}" in
  start)
    [ -n "$TEXTFILE_DIR" ] || die "TEXTFILE_DIR is required for start: the directory node_exporter's textfile collector reads"
    [ -d "$TEXTFILE_DIR" ] || die "TEXTFILE_DIR $TEXTFILE_DIR is not a directory"
    [ -z "$RULES_FILE" ] || [[ $RULES_FILE = /* ]] || die "RULES_FILE $RULES_FILE must be an absolute path"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    TEXTFILE_DIR=$(cd "$TEXTFILE_DIR" && pwd)
    for service in "${SERVICES[@]}"; do start_one "$service"; done ;;
  stop)
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_one "${SERVICES[i]}"; done ;;
  status)
    status || exit 3 ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2 ;;
esac
