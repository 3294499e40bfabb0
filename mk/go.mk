# Go: the daemon, the CLI, their packages and the host test tier.
DEPS_APT += git

GO_LDFLAGS := -s -w -X github.com/mypoll/mypoll/daemon/internal/version.Version=$(VERSION)
GO_BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(GO_LDFLAGS)'
GO_CMDS    := mypolld mypollctl mypoll-bridge
GO_ARCHES  := amd64 arm64 armv7
# staticcheck, pinned, built through the module proxy (not a project dependency).
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages of the host tier: everything but the VM tiers (qemu/, tests/,
# kmod/ktest) and packaging/ (test-pkg runs it).
GO_HOST_PKGS = $$($(GO) list ./... | grep -v -e /qemu -e /tests -e /kmod/ -e /packaging)

TEST_TARGETS  += test-go
LINT_TARGETS  += lint-go
BENCH_TARGETS += bench-go

.PHONY: build test-go lint-go bench-go bench-paced fuzz vendor-check

## build: stripped static mypolld and mypollctl for amd64, arm64 and armv7 in $(OUT)/bin/<arch>/
build: $(foreach a,$(GO_ARCHES),$(foreach c,$(GO_CMDS),$(OUT)/bin/$(a)/$(c)))
	@ls -l $(OUT)/bin/*/* | awk '{ printf "%-32s %8.2f MiB\n", $$NF, $$5 / 1048576 }'

goarch = $(if $(filter armv7,$(1)),GOARCH=arm GOARM=7,GOARCH=$(1))

$(OUT)/bin/%: FORCE
	@mkdir -p $(@D)
	$(call goarch,$(word 1,$(subst /, ,$*))) GOOS=linux $(GO_BUILD) -o $@ ./daemon/cmd/$(notdir $@)

FORCE:

## test-go: vet, format check and `go test -race` of the host tier
test-go: lint-go lint-docs
	$(GO) test -race -count=1 $(GO_HOST_PKGS)
	@# RSS is measured without -race (its shadow memory dwarfs the queues).
	$(GO) test -count=1 -run IdleRSS ./daemon/internal/txq

## lint-go: gofmt, go vet (amd64, arm64, armv7), staticcheck, vendor tree in sync
lint-go: vendor-check
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	$(STATICCHECK) ./...
	GOARCH=arm GOARM=7 $(GO) vet ./daemon/... ./client/...

# The copy goes outside the module: under out/ go vet ./... would see it.
vendor-check:
	$(GO) mod verify >/dev/null
	@tmp=$$(mktemp -d) && $(GO) mod vendor -o $$tmp/vendor && diff -r vendor $$tmp/vendor >/dev/null; \
	  rc=$$?; rm -rf $$tmp; [ $$rc = 0 ] || \
	  { echo "vendor/ is out of sync with go.mod: run 'go mod tidy && go mod vendor'"; exit 1; }

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for p in $$($(GO) list ./daemon/... ./client/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; done

## bench-go: host benchmarks (fan-out, echo RTT, paced latency, stalled client, idle RSS, idle CPU; BENCH_BASE=<mypolld> adds a second build alternately)
bench-go:
	$(GO) run ./daemon/cmd/mypollbench $(if $(BENCH_BASE),-base $(BENCH_BASE))

## bench-paced: only the echo round trip and the paced event latency (sections b and e; BENCH_BASE=<mypolld> adds a second build alternately)
bench-paced:
	$(GO) run ./daemon/cmd/mypollbench -only be $(if $(BENCH_BASE),-base $(BENCH_BASE))
