# rzone in a scratch image: the static binary and nothing else.
#
# No base image is pulled, so the binary is built on the host first, into
# out/docker/ (the only path .dockerignore lets into the context):
#
#   mkdir -p out/docker/data
#   CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o out/docker/rzone ./cmd/rzone
#   docker build -t rzone:dev .
#
# scripts/docker-up.sh does all of this and starts docker-compose.yml's
# 3-zone cluster. There is no shell in the image: every command is an rzone
# subcommand, in exec form (docker run rzone:dev status --addr a1:7070).
FROM scratch

# /data is created from an empty folder so that it belongs to the unprivileged
# user; a new named volume mounted there takes that ownership.
COPY --chown=65532:65532 out/docker/data /data
# /certs likewise: the compose file's certs volume (rzone cert bootstrap).
COPY --chown=65532:65532 out/docker/data /certs
COPY out/docker/rzone /rzone

USER 65532:65532
VOLUME ["/data"]
# 7000 Raft (all groups, one multiplexed port), 7070 HTTP API, 7946 gossip.
EXPOSE 7000/tcp 7070/tcp 7946/tcp 7946/udp
ENTRYPOINT ["/rzone"]
CMD ["--help"]
