#!/usr/bin/env bash
# Stops the cluster of scripts/docker-up.sh and removes its containers,
# network and data volumes. Settings: see scripts/docker-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/docker-env.sh
compose down -v --remove-orphans
