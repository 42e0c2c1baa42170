# Each target is one line over the Go tool; README.md explains them.
.PHONY: build test test-race fuzz jepsen bench dev ci image docker docker-down

build:
	go build -o bin/rzone ./cmd/rzone
test:
	go test ./...
test-race:
	go test -race ./fsm/... ./server/... ./client/...
fuzz:
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 60s ./fsm && go test -run '^$$' -fuzz '^FuzzMetaApply$$' -fuzztime 60s ./fsm && go test -run '^$$' -fuzz '^FuzzDecodeRequests$$' -fuzztime 60s ./internal/api && go test -run '^$$' -fuzz '^FuzzParseToken$$' -fuzztime 60s ./server
jepsen:
	go run ./tests/jepsen --workload payments,bank,register --nemesis kill,partition,pause --time 60s
bench:
	go test -run '^$$' -bench . ./fsm && go run ./cmd/rzone-bench sched
dev:
	go run ./cmd/rzone dev
ci:
	bash .ci/run
image:
	docker build -t rzone .
docker:
	scripts/docker-up.sh
docker-down:
	scripts/docker-down.sh
