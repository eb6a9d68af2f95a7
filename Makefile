# dra: build, test, fuzz.
GO ?= go
PKGS := ./...

.PHONY: all build test deps vet race fuzz bench clean

all: build

build:
	$(GO) build -o bin/dra ./cmd/dra

# The whole suite: installs the test dependencies (freeDiameter, tshark,
# redis-server, prometheus, chromium) when missing, then vet, then every
# test with the race detector. The tests start their own redis-server,
# prometheus and chromium on loopback; no system service is started.
test: deps vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 -run 'Allocs|DoesNotAllocate' ./wire ./loadgen ./realm ./routing

deps:
	bash test/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet $(PKGS)

# Short runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Go benchmarks of the hot paths (the load comparison is bench-load).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v /test/bench)

# The load comparison (test/bench; see BENCHMARKS.md): loadgen direct,
# through the dra binary and through freeDiameter, round by round, one
# table. BENCH_DURATION, BENCH_ROUNDS and BENCH_VARIANTS shorten it.
.PHONY: bench-load bench-tracing
bench-load:
	bash test/deps.sh
	$(GO) test ./test/bench -run '^$$' -bench LoadComparison -benchtime 1x -timeout 30m

# The cost of request tracing (test/bench): the agent with tracing off, at
# 1% and at 100%, spans exported over OTLP/HTTP. Same variables.
bench-tracing:
	$(GO) test ./test/bench -run '^$$' -bench TracingOverhead -benchtime 1x -timeout 30m

clean:
	rm -rf bin

# The soak run (test/soak): steady load through the agent for SOAK_DURATION
# (default 10m) at SOAK_RATE requests/s (default 5000), sampling RSS, Go
# heap and goroutines every SOAK_INTERVAL (default 5s), with a flat/growing
# verdict. Not part of make test.
SOAK_DURATION ?= 10m
.PHONY: soak
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test ./test/soak -run '^TestSoak$$' -count=1 -v -timeout 0

# A long fuzz campaign: every fuzz target in turn, one process at a time
# with -parallel 1 (the machine is shared), FUZZ_LONG each (default 10m).
FUZZ_LONG ?= 10m
.PHONY: fuzz-long
fuzz-long:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_LONG) -parallel 1 $$pkg || exit 1; \
		done; \
	done
