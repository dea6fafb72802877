# Conveniences; README.md gives the plain go commands they run.
.PHONY: run test race bench fuzz build

run:
	go run ./cmd/devstack

test:
	go test ./... ./deploy/...

# The suite under the race detector (1-3 minutes on 2 cores).
race:
	go test -race ./... ./deploy/...

build:
	go build -o bin/ ./cmd/...

# Benchmarks that need a real redis-server (installed by .ci/run or apt).
bench:
	go test ./pkg/scoring ./pkg/stream -run '^$$' -bench . -benchmem
	go test ./pkg/devstack -run '^$$' -bench . -benchtime 1x -timeout 30m
	go test ./pkg/decay -run '^$$' -bench . -benchtime 1x -timeout 30m
	go test ./pkg/rescore -run '^$$' -bench . -benchtime 1x -timeout 30m
	go test ./pkg/store -run '^$$' -bench 'CommitAll|WriteDerived' -benchtime 20x

fuzz:
	go test ./pkg/model -run '^$$' -fuzz FuzzParse -fuzztime 60s
	go test ./pkg/event -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	go test ./pkg/store -run '^$$' -fuzz FuzzDecodeState -fuzztime 60s
