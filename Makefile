# pbxgate — `make run` starts the daemon with demo defaults, `make test` runs
# every test. See README.md.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG      := github.com/pbxgate/pbxgate
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
# nomsgpack leaves gin's MessagePack codec (ugorji/go) out: pbxgate never
# speaks MessagePack, and it is 6 MB of the arm64 binary (docs/benchmarks.md).
TAGS     ?= nomsgpack
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Tests run with the race detector, which needs cgo; binaries never do.
TESTFLAGS ?= -race -count=1 -timeout 40m
BENCH    ?= .

.PHONY: run test build lint dist bench fuzz clean

## run: build and start the daemon with embedded defaults (./data, http://127.0.0.1:8080, simulated modems)
run: build
	./bin/pbxgate run --demo

## test: the whole test suite
test:
	CGO_ENABLED=1 $(GO) test $(TESTFLAGS) ./...

## build: the daemon and the modem simulator for this machine, into ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## lint: gofmt, go mod tidy, go vet, staticcheck (fetched through the Go module proxy) and netscope (tests and scripts target loopback only)
# The patched Badger copy (gateway/store/badger) is its own module: gofmt
# checks it (git ls-files); ./... stops at its go.mod, so go vet runs there
# on its packages but the root one and trie (upstream's own findings: pb.Match
# copied with its lock in trie.go and publisher.go), and staticcheck not at all.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) vet ./...
	cd gateway/store/badger && $(GO) vet ./table/ ./y/ ./options/ ./skl/ ./fb/ ./pb/
	$(GO) run $(STATICCHECK) ./...
	$(GO) run ./cmd/netscope .

## dist: static binaries for linux/amd64, linux/arm64 and linux/arm (v7) in ./dist
dist:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o dist/pbxgate-linux-amd64 ./cmd/pbxgate
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o dist/pbxgate-linux-arm64 ./cmd/pbxgate
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o dist/pbxgate-linux-armv7 ./cmd/pbxgate
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o dist/modemsim-linux-amd64 ./cmd/modemsim
	cd dist && sha256sum pbxgate-* modemsim-* > SHA256SUMS

## test-32bit: the store's tests built for linux/386 (run natively on x86) and linux/arm GOARM=7 (run under qemu-arm-static when installed); `make test` runs only the two allocator tests built for 386 (TestArenaTestsBuiltFor386; gateway/store/badger/PATCHES.md, change 4)
# qemu-user ignores madvise (MADV_PAGEOUT included; the same under
# qemu-aarch64-static), so the trimmer's tests are skipped under qemu.
QEMU_SKIP := ^(TestTrimPagesOutMappedFiles|TestRunTrimKeepsBudget|TestRunTrimHandsBackAllWhenIdle|TestPageOutExecutable)$$
.PHONY: test-32bit
test-32bit:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	case $$(uname -m) in x86_64|i?86) \
		CGO_ENABLED=0 GOOS=linux GOARCH=386 $(GO) test -c -o "$$dir/store.386" ./gateway/store && \
		echo "== linux/386" && (cd gateway/store && "$$dir/store.386" -test.count=1) || exit 1;; \
	*) echo "== linux/386 not run: not an x86 machine";; esac && \
	if command -v qemu-arm-static >/dev/null; then \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) test -c -o "$$dir/store.arm" ./gateway/store && \
		echo "== linux/arm (GOARM=7) under qemu-arm-static" && \
		(cd gateway/store && qemu-arm-static "$$dir/store.arm" -test.count=1 -test.skip '$(QEMU_SKIP)'); \
	else echo "== linux/arm not run: qemu-arm-static is not installed (apt-get install qemu-user-static)"; fi

## bench: the benchmarks (see docs/benchmarks.md); BENCH=regexp selects
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

## fuzz: every fuzz target for FUZZTIME each (docs/benchmarks.md "Fuzzing"); FUZZ=regexp selects
FUZZTIME ?= 30s
FUZZ     ?= .
FUZZ_TARGETS := \
	./gateway/sms:FuzzDecodePDU \
	./drivers/modem:FuzzATResponse \
	./drivers/whatsapp:FuzzWebhook \
	./gateway/config:FuzzParse \
	./pbx:FuzzSIPMessage \
	./gateway/recipients:FuzzCSVImport
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "$$name" | grep -Eq -- '$(FUZZ)' || continue; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

clean:
	rm -rf bin dist

# ---- appliance (docs/appliance.md) -------------------------------------
IMAGE_SUITE ?= bookworm
IMAGE_OUT   ?= dist/image

.PHONY: deb image image-boot-test

## deb: Debian packages for amd64, arm64 and armhf in ./dist (nfpm, firmware/deb)
deb: dist
	cd firmware/deb && for a in amd64:amd64 arm64:arm64 armhf:armv7; do \
		$(GO) run . --arch $${a%%:*} --version '$(VERSION)' --binary ../../dist/pbxgate-linux-$${a##*:} --out ../../dist || exit 1; \
	done
	cd dist && sha256sum pbxgate_*.deb > SHA256SUMS.deb

## image: Raspberry Pi (arm64) SD-card image in $(IMAGE_OUT) (root, mmdebstrap, qemu-user-static)
image: deb
	firmware/image/build.sh --suite $(IMAGE_SUITE) --deb dist/pbxgate_*_arm64.deb --out $(IMAGE_OUT)

## image-boot-test: boot the image in qemu-system-aarch64 and wait for /healthz (slow, not in CI)
image-boot-test:
	firmware/image/boot-test.sh $(IMAGE_OUT)/pbxgate-rpi-arm64.img
