# Shared settings of scripts/docker-up.sh and scripts/docker-down.sh; source
# it from the repository root. Environment overrides:
#   RZONE_PROJECT    compose project name (default rzone; the network is
#                    ${RZONE_PROJECT}_default)
#   RZONE_IMAGE      image tag (default rzone:dev)
#   RZONE_HTTP_BIND  where a1's API is published (default 127.0.0.1:7070)
#   RZONE_IP_PREFIX  first three octets of the cluster's /24 network
#                    (default 172.30.70: nodes at .11-.33)

export RZONE_PROJECT="${RZONE_PROJECT:-rzone}"
export RZONE_IMAGE="${RZONE_IMAGE:-rzone:dev}"
export RZONE_HTTP_BIND="${RZONE_HTTP_BIND:-127.0.0.1:7070}"
export RZONE_IP_PREFIX="${RZONE_IP_PREFIX:-172.30.70}"
RZONE_NETWORK="${RZONE_PROJECT}_default"

# compose runs Docker Compose v2 (docker compose) if the plugin is there, else
# v1 (docker-compose), on this repository's docker-compose.yml, as project
# $RZONE_PROJECT. COMPOSE is the command it runs, for messages.
if docker compose version >/dev/null 2>&1; then
  COMPOSE="docker compose -p $RZONE_PROJECT"
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE="docker-compose -p $RZONE_PROJECT"
else
  COMPOSE=""
fi
compose() {
  if [ -z "$COMPOSE" ]; then
    echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
    return 1
  fi
  $COMPOSE -f docker-compose.yml "$@"
}
