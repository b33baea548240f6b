#!/usr/bin/env bash
# An "infra host" for tests of a production-shaped inventory (inventories/example): the release store and the
# proxies. The drill host image (Debian 12 minbase + python3, scripts/drill_host_image.sh) plus an OpenSSH server,
# nginx, HAProxy, git and what the collection's modules import there with /usr/bin/python3 (release_verify: PyYAML,
# jsonschema, GitPython, cryptography for the DSSE envelope; release_lock, release_ledger, proxy_flip: the standard library only). No registry is
# reachable: built FROM the local drill image with Debian packages only. Neither nginx nor HAProxy is started by
# the image: a test writes their configuration and starts them.
# PID 1 is tini, which forwards SIGTERM to sshd and reaps orphans (nginx and haproxy daemonise): a stop takes
# well under a second. Kept once built; a change to this recipe bumps RECIPE, and a rebuilt drill image rebuilds it too.
set -euo pipefail

IMAGE="${INFRA_HOST_IMAGE:-maestro-infra-host:bookworm}"
BASE="${DRILL_HOST_IMAGE:-maestro-drill-host:bookworm}"
RECIPE=3
HERE="$(cd "$(dirname "$0")" && pwd)"

DRILL_HOST_IMAGE="$BASE" "$HERE/drill_host_image.sh"
base_id="$(docker image inspect --format '{{.Id}}' "$BASE")"
labels="$(docker image inspect --format '{{ index .Config.Labels "maestro.infra-host.recipe" }} {{ index .Config.Labels "maestro.infra-host.base" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$labels" = "$RECIPE $base_id" ]; then
    echo "infra host image: $IMAGE (present)"
    exit 0
fi

started=$(date +%s%N)
previous="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT

# sshd as on the app host image; nothing else starts: nginx and haproxy are started by whoever configures them
cp "$HERE/test_hosts/sshd.conf" "$HERE/test_hosts/start-sshd" "$CONTEXT/"

cat >"$CONTEXT/Dockerfile" <<EOF
FROM $BASE
# host keys are made per container at start, not shared through the image; nothing is started by the packages
# (no systemd, and policy-rc.d would be moot): the default nginx site is removed so nothing listens by surprise
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      openssh-server openssh-client tini nginx-light haproxy git curl ca-certificates \\
      python3-yaml python3-jsonschema python3-git python3-cryptography >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* /etc/nginx/sites-enabled/default
COPY sshd.conf /etc/ssh/sshd_config.d/maestro.conf
COPY start-sshd /usr/local/sbin/start-sshd
EXPOSE 22 80
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/sbin/start-sshd"]
CMD []
LABEL maestro.infra-host.recipe=$RECIPE maestro.infra-host.base=$base_id
EOF

echo "infra host image: building $IMAGE from $BASE"
# the legacy builder: this docker CLI has no buildx, and nothing is pulled
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$CONTEXT" >"$CONTEXT/build.log" 2>&1 || { tail -20 "$CONTEXT/build.log" >&2; exit 1; }
# the image this one replaces, unless a container still uses it
[ -z "$previous" ] || docker image rm "$previous" >/dev/null 2>&1 || true
tenths=$(( ($(date +%s%N) - started) / 100000000 ))
echo "infra host image: $IMAGE built in $((tenths / 10)).$((tenths % 10)) s"
