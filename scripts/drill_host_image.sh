#!/usr/bin/env bash
# The clean host of the restore drill's molecule scenario: Debian 12 (minbase) with python3 and nothing
# else, built here because no registry can be reached (debootstrap, then `docker import`). Kept once
# built: remove the image to build it again.
set -euo pipefail

IMAGE="${DRILL_HOST_IMAGE:-maestro-drill-host:bookworm}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
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
tar -C "$ROOT" -c . | docker import --change 'CMD ["sleep", "infinity"]' - "$IMAGE" >/dev/null
echo "drill host image: $IMAGE built"
