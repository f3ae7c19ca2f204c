# Build, run and test Slipway. `make test` is what CI runs (.ci/run).

GO ?= go

.PHONY: build run deps test test-package fuzz fuzz-together bench lint package dist clean

VERSION ?= $(shell scripts/version.sh)
LDFLAGS = -X main.version=$(VERSION)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/slipway ./cmd/slipway

# Serves with the built-in default configuration; the binary prints the git
# remote to add and the push command to try.
run: deps build
	exec bin/slipway serve

# Checks for git, rsync, ssh, sshd, curl, tar and chromium (installs them as root with
# apt-get): the end-to-end tests drive the real programs.
deps:
	./scripts/deps.sh

# The end-to-end scripts spend most of their time waiting on sshd, ssh and
# git, so they run E2E_PARALLEL at once whatever the number of cores; the
# fuzz targets then run side by side, one worker each.
E2E_PARALLEL ?= 4
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m -parallel $(E2E_PARALLEL) ./...
	$(MAKE) test-package
	$(MAKE) fuzz-together FUZZTIME=$(FUZZTIME)

# Builds the Debian package from a real binary, unpacks it with dpkg and
# checks the binary, the configuration and the systemd unit (packaging/).
test-package:
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 ./...

# Fuzzes what parses untrusted input: the config loader, ref and repository names, ssh commands, artifact archives,
# the proc-receive hook protocol, output masking and the text cleaner. make test runs each
# for a count of inputs, not a duration: go1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" when a duration ends on a
# busy machine (golang/go#75804). `make fuzz FUZZTIME=1m` runs them longer.
# Crashers are written to testdata/fuzz and become regression tests.
FUZZTIME ?= 50000x
FUZZ_TARGETS = ./internal/textclean:FuzzLine ./release:FuzzScanArchive ./config:FuzzParse ./config:FuzzParseInvariants ./config:FuzzValidBranch ./config:FuzzLocate ./gitserver:FuzzAppFromPath ./gitserver:FuzzCommand ./gitserver:FuzzProcReceiveInput ./lifecycle:FuzzMasker ./lifecycle:FuzzTail
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# What make test runs: the packages' fuzz targets side by side, one worker
# each, for FUZZTIME each; the targets of one package run one after the
# other so that they share its instrumented build. Each package's output
# goes to its own log, shown when a target fails.
fuzz-together:
	@dir=$$(mktemp -d); pids=""; \
	for pkg in $$(for t in $(FUZZ_TARGETS); do echo $${t%%:*}; done | sort -u); do \
		log="$$dir/$$(echo $$pkg | tr / _).log"; \
		( for t in $(FUZZ_TARGETS); do \
			[ "$${t%%:*}" = "$$pkg" ] || continue; name=$${t##*:}; \
			echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg || exit 1; \
		done ) > "$$log" 2>&1 & \
		pids="$$pids $$!:$$log"; \
	done; \
	failed=0; \
	for p in $$pids; do \
		if wait $${p%%:*}; then grep '^fuzz ' "$${p#*:}"; else echo "FAILED:"; cat "$${p#*:}"; failed=1; fi; \
	done; \
	rm -rf "$$dir"; exit $$failed

# Deploy benchmarks: Slipway against a hand-written shell deploy and
# Capistrano 3 on the same sshd hosts, reported as ratios
# (docs/benchmarks.md says how long a full run takes). BENCH=regex runs the
# matching benchmarks only (BENCH='GoTree/hosts=1$'); ROUNDS=N measures N
# rounds per case and reports medians.
BENCH ?= .
ROUNDS ?= 3
bench: deps
	./scripts/bench-deps.sh
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 180m ./internal/bench/ -rounds $(ROUNDS)

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@sc=$$(command -v staticcheck || true); \
	if [ -z "$$sc" ] && [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then sc="$$($(GO) env GOPATH)/bin/staticcheck"; fi; \
	if [ -n "$$sc" ]; then echo "$$sc ./..."; "$$sc" ./...; else echo "lint: staticcheck not installed, skipped"; fi

# dist/slipway_VERSION_ARCH.deb: the binary, a hardened systemd unit running
# as the system user slipway, /etc/slipway/slipway.toml from `slipway init`
# and /var/lib/slipway. packaging/ is its own module, so the packager's
# dependencies never reach the server's.
package: build
	mkdir -p dist
	bin/slipway init --force --config dist/slipway.toml --data-dir /var/lib/slipway >/dev/null
	cd packaging && $(GO) run . -binary ../bin/slipway -config ../dist/slipway.toml -version $(VERSION) -arch $$($(GO) env GOARCH) -out ../dist

# Release binaries and packages for linux/amd64 and linux/arm64, with
# dist/SHA256SUMS.
DIST_ARCHES = amd64 arm64
dist: build
	rm -rf dist && mkdir -p dist
	bin/slipway init --force --config dist/slipway.toml --data-dir /var/lib/slipway >/dev/null
	for arch in $(DIST_ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o dist/slipway-$(VERSION)-linux-$$arch ./cmd/slipway || exit 1; \
		(cd packaging && $(GO) run . -binary ../dist/slipway-$(VERSION)-linux-$$arch -config ../dist/slipway.toml -version $(VERSION) -arch $$arch -out ../dist) || exit 1; \
	done
	rm dist/slipway.toml
	cd dist && sha256sum slipway-* slipway_*.deb > SHA256SUMS

clean:
	rm -rf bin dist
