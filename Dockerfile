# rzone in a scratch image, built from the source: `docker build .` in a
# clone is all it takes (a network to pull the Go image and the modules).
#
#   docker build -t rzone .
#   docker build --build-arg VERSION=$(git describe --tags) --build-arg REVISION=$(git rev-parse HEAD) -t rzone .
#   docker build --build-arg GO_IMAGE=registry.example.com/golang:1.26 --build-arg GOPROXY=https://proxy.example.com -t rzone .
#
# tests/docker (TestDockerfileBuildsFromAClone) builds this file as it is,
# with a Go image made from the host's toolchain and the host's module
# cache served as GOPROXY, since no registry is reachable there.
#
# The build stage is the official Go image (GO_IMAGE, a Go at least as new
# as go.mod's); the final image is the static binary and nothing else, as
# Dockerfile.local makes it from a binary built on the host (what
# scripts/docker-up.sh and tests/docker use: no image is pulled there).
# There is no shell in the image: every command is an rzone subcommand, in
# exec form (docker run rzone status --addr a1:7070), and the health check
# is one too (rzone healthcheck: GET /readyz; docker-compose.yml sets it
# with the CA of its certs volume).
ARG GO_IMAGE=golang:1.26-alpine

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# The modules first, so that a change of the source reuses their layer.
COPY go.mod go.sum ./
# GOPROXY: the module proxy to download from (default: the Go image's).
ARG GOPROXY
RUN go mod download
COPY . .
# VERSION and REVISION are what rzone version prints (defaults: the
# module's "(devel)", and "unknown": the context holds no .git).
ARG VERSION=""
ARG REVISION=""
RUN go build -trimpath -ldflags="-s -w -X github.com/rzonedb/rzone/internal/buildinfo.Version=${VERSION} -X github.com/rzonedb/rzone/internal/buildinfo.Revision=${REVISION}" \
      -o /out/rzone ./cmd/rzone \
 && mkdir -p /out/data

FROM scratch
# /data is created from an empty folder so that it belongs to the unprivileged
# user; a new named volume mounted there takes that ownership.
COPY --from=build --chown=65532:65532 /out/data /data
# /certs likewise: the compose file's certs volume (rzone cert bootstrap).
COPY --from=build --chown=65532:65532 /out/data /certs
COPY --from=build /out/rzone /rzone

USER 65532:65532
VOLUME ["/data"]
# 7000 Raft (all groups, one multiplexed port), 7070 HTTP API, 7946 gossip.
EXPOSE 7000/tcp 7070/tcp 7946/tcp 7946/udp
ENTRYPOINT ["/rzone"]
CMD ["--help"]
