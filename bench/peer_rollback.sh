#!/usr/bin/env bash
# The peer of bench_rollback.py: the runbook's rollback as the plain script an operator would otherwise write.
# Check the release's files, load its image when the engine lacks it, start the idle colour and wait for its
# healthcheck, point the proxy at it, poll until the new commit answers through the proxy. No lock, no ledger,
# no proof that the image that runs is the verified one: what the collection adds is what it costs.
# Usage: peer_rollback.sh RELEASE_DIR TAG COMMIT IMAGE_ID PROJECT PORT PROXY_URL nginx INCLUDE UPSTREAM CONFIG
#        peer_rollback.sh RELEASE_DIR TAG COMMIT IMAGE_ID PROJECT PORT PROXY_URL haproxy SOCKET BACKEND COLOUR
set -euo pipefail
release=$1 tag=$2 commit=$3 image=$4 project=$5 port=$6 url=$7 proxy=$8

cd "$release"
sha256sum --check --quiet SHA256SUMS
docker image inspect "$image" >/dev/null 2>&1 || docker load --quiet --input image.tar >/dev/null
TAG=$tag PORT=$port docker compose --project-name "$project" --file compose.yaml up --detach --wait --quiet-pull 2>/dev/null
if [ "$proxy" = nginx ]; then
    include=$9 upstream=${10} config=${11}
    printf 'upstream %s {\n    server 127.0.0.1:%s;\n    keepalive 16;\n}\n' "$upstream" "$port" >"$include.new"
    mv "$include.new" "$include"
    nginx -c "$config" -s reload
else
    socket=$9 backend=${10} colour=${11}
    other=$([ "$colour" = blue ] && echo green || echo blue)
    echo "set server $backend/$colour state ready" | socat stdio "UNIX-CONNECT:$socket" >/dev/null
    echo "set server $backend/$other state maint" | socat stdio "UNIX-CONNECT:$socket" >/dev/null
fi
until curl -fsS --max-time 2 "$url/version" 2>/dev/null | grep -q "$commit"; do sleep 0.05; done
