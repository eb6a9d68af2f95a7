# dra: build, test, fuzz.
GO ?= go
PKGS := ./...

.PHONY: all build test deps vet race fuzz bench clean

all: build

build:
	$(GO) build -o bin/dra ./cmd/dra

# The whole suite: installs the test dependencies (freeDiameter, tshark) when
# missing, then vet, then every test with the race detector.
test: deps vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

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

# Go benchmarks of the hot paths.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
