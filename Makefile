# Build, run and test Slipway. `make test` is what CI runs (.ci/run).

GO ?= go

.PHONY: build run deps test fuzz bench lint clean

build:
	$(GO) build -o bin/slipway ./cmd/slipway

# Serves with the built-in default configuration; the binary prints the git
# remote to add and the push command to try.
run: deps build
	exec bin/slipway serve

# Checks for git, rsync, ssh, sshd, curl, tar and chromium (installs them as root with
# apt-get): the end-to-end tests drive the real programs.
deps:
	./scripts/deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

# Fuzzes what parses untrusted input: the config loader, ref and repository names, ssh commands,
# the proc-receive hook protocol and output masking. make test runs each
# briefly; `make fuzz FUZZTIME=1m` runs them longer. Crashers are written
# to testdata/fuzz and become regression tests.
FUZZTIME ?= 20s
FUZZ_TARGETS = ./config:FuzzParse ./config:FuzzValidBranch ./gitserver:FuzzAppFromPath ./gitserver:FuzzCommand ./gitserver:FuzzProcReceiveInput ./hooks:FuzzMasker
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Deploy benchmarks: Slipway against a hand-written shell deploy on the same
# sshd hosts, reported as ratios (docs/benchmarks.md). About 10 minutes.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/bench/

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@sc=$$(command -v staticcheck || true); \
	if [ -z "$$sc" ] && [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then sc="$$($(GO) env GOPATH)/bin/staticcheck"; fi; \
	if [ -n "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; else echo "lint: staticcheck not installed, skipped"; fi

clean:
	rm -rf bin
