# metanode: build, test, lint, benchmarks and fuzzing.
GO          ?= go
BIN         := bin/metanode
# The devnet's binary: built with -tags devnet, so its nodes can play
# byzantine behaviours (METANODE_DEVNET_BYZANTINE); bin/metanode cannot.
DEVNET_BIN  := bin/metanode-devnet
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2
# The quick pass counts executions instead of seconds: a wall-clock
# -fuzztime races Go 1.26's fuzz coordinator at the deadline and fails a
# target that found nothing ("context deadline exceeded", go.dev/issue/75804,
# fixed in Go 1.27).
FUZZTIME    ?= 20000x
LONG_FUZZTIME ?= 2m
# Every fuzz target as package:Name, or package:Name=count for one whose
# executions are slow: the Session.Deliver targets replay real tss
# sessions (2048-bit Paillier proofs, 0.5-3 executions a second after
# each worker records its session), so their counts keep the three at
# about 2.5 minutes together on this 2-core machine (measured: keygen
# 38 s, signing 40 s, resharing 73 s, at a load average of 3-5).
FUZZ_TARGETS := ./events:FuzzParseRecord ./events:FuzzDecodeEvent ./events:FuzzMessageBodies ./events:FuzzDecodePing ./tss:FuzzVerifyShare ./net:FuzzDecodeFrame \
	./tss:FuzzDeliverKeygen=20x ./tss:FuzzDeliverSigning=100x ./tss:FuzzDeliverResharing=30x

.PHONY: build devnet-build test unit fuzz-quick bench lint fuzz soak devnet testkeys clean

build:
	$(GO) build -o $(BIN) ./cmd/metanode

devnet-build:
	$(GO) build -tags devnet -o $(DEVNET_BIN) ./cmd/metanode

# The test command of the README: unit and integration tests, then every
# fuzz target for 20,000 executions.
test: unit fuzz-quick

# The devnet tests build their own -tags devnet binary (devnet/main_test.go);
# the daemon's byzantine behaviours have unit tests of their own under the tag.
unit:
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -tags devnet ./node/daemon

fuzz-quick:
	@for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; spec=$${target#*:}; name=$${spec%%=*}; time=$(FUZZTIME); \
		case $$spec in *=*) time=$${spec#*=};; esac; \
		echo "fuzz $$pkg $$name ($$time)"; \
		out=$$($(GO) test $$pkg -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$time 2>&1) || { echo "$$out" | grep -v '^fuzz: elapsed'; exit 1; }; \
	done

fuzz:
	@for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; spec=$${target#*:}; name=$${spec%%=*}; \
		echo "fuzz $$pkg $$name ($(LONG_FUZZTIME))"; \
		$(GO) test $$pkg -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(LONG_FUZZTIME) || exit 1; \
	done

# Every simulator scenario over more seeds than make test runs (5).
SOAK_SEEDS ?= 20
soak:
	SOAK_SEEDS=$(SOAK_SEEDS) $(GO) test -count=1 -timeout 3h ./sim/

bench:
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./...
	$(GO) run ./cmd/metanode bench log --json
	$(GO) run ./cmd/metanode bench replay --json
	$(GO) run ./cmd/metanode bench pings --json
	$(MAKE) build && $(BIN) bench round --json

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags devnet ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags devnet ./...

# Test keys (every share public) for committees 5/2, 7/4 and 10/6 (safe primes: minutes), committed under
# tss/testkeys; only tests, the simulator, the benchmarks and the devnet import them.
testkeys:
	$(GO) run ./cmd/metanode tss testkeys --committee 5/2 --committee 7/4 --committee 10/6

# Five real `metanode run` processes on loopback (homes under .devnet/),
# their chain played in the devnet process; Ctrl-C stops them all. The
# nodes run the -tags devnet binary, on the built-in test key.
devnet: devnet-build
	$(DEVNET_BIN) devnet --fresh

clean:
	rm -rf bin
