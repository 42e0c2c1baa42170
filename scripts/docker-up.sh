#!/usr/bin/env bash
# Builds the static rzone binary and the rzone:dev image (FROM scratch, see
# Dockerfile.local: no image is pulled), starts docker-compose.yml's 3-zone
# × 3-node cluster and waits until every zone has a leader. Stop it with scripts/docker-down.sh.
# Settings: see scripts/docker-env.sh (RZONE_PROJECT, RZONE_IMAGE,
# RZONE_HTTP_BIND, RZONE_IP_PREFIX); RZONE_UP_TIMEOUT bounds the wait in seconds (default 180).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/docker-env.sh

step() { printf '=== %s\n' "$*"; }

step "build the static binary (out/docker/rzone)"
mkdir -p out/docker/data
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o out/docker/rzone ./cmd/rzone

step "build the image $RZONE_IMAGE"
docker build -q -f Dockerfile.local -t "$RZONE_IMAGE" . >/dev/null

step "start the cluster (compose project $RZONE_PROJECT)"
compose up -d

# The cluster is secure: the certs service made a CA, the nodes' certificate
# and an admin token in the certs volume. A container of the image reaches
# the nodes with that volume mounted ($RZONE_IN); the host gets the CA and
# the token copied out for curl and the CLI.
RZONE_IN="--network $RZONE_NETWORK -v ${RZONE_PROJECT}_certs:/certs:ro -e RZONE_CA=/certs/ca.crt -e RZONE_TOKEN_FILE=/certs/admin.token"
CERTS_OUT="out/docker/certs-$RZONE_PROJECT"
mkdir -p "$CERTS_OUT"
certs_id=$(compose ps -a -q certs)
docker cp "$certs_id:/certs/ca.crt" "$CERTS_OUT/ca.crt"
docker cp "$certs_id:/certs/admin.token" "$CERTS_OUT/admin.token"
chmod 600 "$CERTS_OUT/admin.token"

# status runs "rzone status" inside the cluster's network, where the API
# addresses of the route table (a1:7070 ...) resolve.
status() {
  docker run --rm $RZONE_IN "$RZONE_IMAGE" status --addr a1:7070,b1:7070,c1:7070 --timeout 5s "$@"
}

step "wait for 3 zones, each with a leader"
deadline=$((SECONDS + ${RZONE_UP_TIMEOUT:-180}))
while :; do
  # Table columns: ZONE SHARDS PHASE LEASE NODE ROLE STATE APPLIED LAG CONTACT.
  led=$(status 2>/dev/null | awk '$6 == "voter" && $7 == "Leader" { z[$1] = 1 } END { print length(z) }') || led=0
  [ "${led:-0}" -ge 3 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "the cluster is not ready after ${RZONE_UP_TIMEOUT:-180}s; containers and the init log:" >&2
    compose ps >&2 || true
    compose logs --tail 30 init >&2 || true
    exit 1
  fi
  sleep 2
done
status

cat <<INFO

rzone is up: 3 zones × 3 nodes (a1..a3, b1..b3, c1..c3), compose project $RZONE_PROJECT.
  secure           TLS, node certificates, tokens; for the CLI and curl on this machine:
export RZONE_CA=$PWD/$CERTS_OUT/ca.crt
export RZONE_TOKEN=\$(cat $PWD/$CERTS_OUT/admin.token)
export RZONE_ADDR=$RZONE_HTTP_BIND
  API of a1        https://$RZONE_HTTP_BIND   (curl --cacert "\$RZONE_CA" -H "Authorization: Bearer \$RZONE_TOKEN" https://$RZONE_HTTP_BIND/v1/zones)
  network          $RZONE_NETWORK, $RZONE_IP_PREFIX.0/24 (nodes at .11-.13, .21-.23, .31-.33)
                   the route table names nodes a1:7070 ..., which resolve only there
  CLI inside it    docker run --rm $RZONE_IN $RZONE_IMAGE status --addr a1:7070
  load             docker run --rm $RZONE_IN $RZONE_IMAGE bench pay --addr a1:7070,b1:7070,c1:7070 --clients 8 --time 10s --accounts 100
  logs             $COMPOSE logs -f a1
  stop             scripts/docker-down.sh   (removes the containers and their volumes)
INFO
