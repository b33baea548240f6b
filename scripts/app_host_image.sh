#!/usr/bin/env bash
# An "app host" for fleet tests: the drill host image (Debian 12 minbase + python3, scripts/drill_host_image.sh)
# plus its own docker engine (docker.io 20.10, iptables), compose v2 and an OpenSSH server, so Ansible can reach
# it over SSH as it would a real server. No registry is reachable: built FROM the local drill image with Debian
# packages only, and the compose plugin copied from this machine (scripts/services.sh installs it).
# PID 1 is tini, which forwards SIGTERM to sshd and reaps orphans: a stop takes well under a second.
# Kept once built; a change to this recipe bumps RECIPE, and a rebuilt drill image rebuilds it too.
set -euo pipefail
# one build at a time (parallel test workers and molecule ask for the image at once): the others wait, then find it built
exec 9>>/tmp/maestro-app-host-image.lock
flock -w 900 9 || { echo "$(basename "$0"): another build of the image held /tmp/maestro-app-host-image.lock for 15 minutes" >&2; exit 1; }

IMAGE="${APP_HOST_IMAGE:-maestro-app-host:bookworm}"
BASE="${DRILL_HOST_IMAGE:-maestro-drill-host:bookworm}"
RECIPE=6
COMPOSE=/usr/local/lib/docker/cli-plugins/docker-compose
HERE="$(cd "$(dirname "$0")" && pwd)"

DRILL_HOST_IMAGE="$BASE" "$HERE/drill_host_image.sh"
base_id="$(docker image inspect --format '{{.Id}}' "$BASE")"
labels="$(docker image inspect --format '{{ index .Config.Labels "maestro.app-host.recipe" }} {{ index .Config.Labels "maestro.app-host.base" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$labels" = "$RECIPE $base_id" ]; then
    echo "app host image: $IMAGE (present)"
    exit 0
fi
[ -x "$COMPOSE" ] || { echo "app host image: $COMPOSE is missing: run scripts/services.sh install" >&2; exit 1; }

started=$(date +%s%N)
previous="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT
cp "$COMPOSE" "$CONTEXT/docker-compose"

cp "$HERE/test_hosts/sshd.conf" "$HERE/test_hosts/start-sshd" "$CONTEXT/"

cat >"$CONTEXT/maestro-app-host" <<'EOF'
#!/bin/bash
# Start an app host: dockerd in the background (vfs storage inside this container, its own cgroup parent so nested
# engines never share cgroups), then sshd as every test host starts it.
set -eu
name="${APP_HOST_NAME:-$(hostname)}"
# left by a stopped container that is started again (its reboot): nothing else runs here yet; /run is emptied at boot on
# a real host (a tmpfs), and with it the flag that a reboot is required
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid /run/reboot-required /run/reboot-required.pkgs
dockerd --data-root /var/lib/docker --cgroup-parent "maestro-$name" >/var/log/dockerd.log 2>&1 &
exec /usr/local/sbin/start-sshd
EOF

chmod 0755 "$CONTEXT/maestro-app-host"

cat >"$CONTEXT/Dockerfile" <<EOF
FROM $BASE
# host keys are made per container at start, not shared through the image
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      docker.io iptables openssh-server python3-requests tini >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
COPY docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
COPY sshd.conf /etc/ssh/sshd_config.d/maestro.conf
COPY start-sshd /usr/local/sbin/start-sshd
COPY maestro-app-host /usr/local/sbin/maestro-app-host
EXPOSE 22
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/sbin/maestro-app-host"]
CMD []
LABEL maestro.app-host.recipe=$RECIPE maestro.app-host.base=$base_id
EOF

echo "app host image: building $IMAGE from $BASE"
# the legacy builder: this docker CLI has no buildx, and nothing is pulled
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$CONTEXT" >"$CONTEXT/build.log" 2>&1 || { tail -20 "$CONTEXT/build.log" >&2; exit 1; }
# the image this one replaces, unless a container still uses it
[ -z "$previous" ] || docker image rm "$previous" >/dev/null 2>&1 || true
tenths=$(( ($(date +%s%N) - started) / 100000000 ))
echo "app host image: $IMAGE built in $((tenths / 10)).$((tenths % 10)) s"
