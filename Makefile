# Build, run and test Slipway. `make test` is what CI runs (.ci/run).

GO ?= go

.PHONY: build run deps test bench lint clean

build:
	$(GO) build -o bin/slipway ./cmd/slipway

# Serves with the built-in default configuration; the binary prints the git
# remote to add and the push command to try.
run: deps build
	exec bin/slipway serve

# Checks for git, rsync, ssh, sshd, curl and tar (installs them as root with
# apt-get): the end-to-end tests drive the real programs.
deps:
	./scripts/deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@sc=$$(command -v staticcheck || true); \
	if [ -z "$$sc" ] && [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then sc="$$($(GO) env GOPATH)/bin/staticcheck"; fi; \
	if [ -n "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; else echo "lint: staticcheck not installed, skipped"; fi

clean:
	rm -rf bin
