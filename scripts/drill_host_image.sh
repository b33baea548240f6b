#!/usr/bin/env bash
# The clean host of the restore drill's molecule scenario: Debian 12 (minbase) with python3 and nothing
# else, built here because no registry can be reached (debootstrap, then `docker import`), configured as
# Docker's own Debian images are (dpkg without fsync: a container's filesystem is thrown away, not
# recovered after a crash). Kept once built; a change to this recipe bumps RECIPE, which rebuilds it.
set -euo pipefail
# one build at a time (parallel test workers and molecule ask for the image at once): the others wait, then find it built
exec 9>>/tmp/maestro-drill-host-image.lock
flock -w 900 9 || { echo "$(basename "$0"): another build of the image held /tmp/maestro-drill-host-image.lock for 15 minutes" >&2; exit 1; }

IMAGE="${DRILL_HOST_IMAGE:-maestro-drill-host:bookworm}"
RECIPE=2
if [ "$(docker image inspect --format '{{ index .Config.Labels "maestro.drill-host.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
    echo "drill host image: $IMAGE (present)"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null 2>&1 || { echo "cannot install debootstrap" >&2; exit 1; }
fi
# the mirror this machine's own apt uses
MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
echo "drill host image: building $IMAGE from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3 bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
    tail -20 "$ROOT.log" >&2
    exit 1
}
rm -f "$ROOT.log"
echo force-unsafe-io >"$ROOT/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
echo 'Acquire::Languages "none";' >"$ROOT/etc/apt/apt.conf.d/docker-no-languages"
tar -C "$ROOT" -c . | docker import --change 'CMD ["sleep", "infinity"]' \
    --change "LABEL maestro.drill-host.recipe=$RECIPE" - "$IMAGE" >/dev/null
echo "drill host image: $IMAGE built"
