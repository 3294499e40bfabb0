# Fleet bridge (PROTOCOL.md section C): tests against real brokers.
# mosquitto for the single-broker scenarios; nats-server (bookworm: 2.9.10,
# MQTT 3.1.1 needs JetStream) for the three-node cluster.
DEPS_APT += mosquitto nats-server

TEST_TARGETS += test-bridge

.PHONY: test-bridge

## test-bridge: mypoll-bridge against real mosquitto and nats-server on 127.0.0.1
test-bridge:
	$(GO) vet -tags brokers ./daemon/cmd/mypoll-bridge ./daemon/internal/bridge ./internal/brokertest
	$(GO) test -race -count=1 -tags brokers -timeout 10m ./daemon/cmd/mypoll-bridge ./daemon/internal/bridge

# The end-to-end test boots one VM (default kernel): mypolld on the real
# module in the guest, its socket forwarded to the host, the bridge on the
# host into mosquitto. Its own target (not test-e2e's kernel matrix), so
# make test runs it once; it runs after test-e2e (not in TEST_ORDER).
TEST_TARGETS += test-bridge-e2e
.PHONY: test-bridge-e2e

## test-bridge-e2e: mypoll-bridge on the host against mypolld on /dev/mypoll in the guest (forwarded socket), into mosquitto
test-bridge-e2e: image
	$(GO) vet -tags brokers ./tests/
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) \
	  $(GO) test -count=1 -tags brokers -run '^TestBridgeE2E$$' -timeout 10m ./tests/

BENCH_TARGETS += bench-bridge
.PHONY: bench-bridge

## bench-bridge: events/s and latency through mypoll-bridge into mosquitto beside a raw paho publisher; RSS, CPU/event; the fleet
bench-bridge:
	$(GO) test -v -count=1 -tags brokers,bench -run '^TestBenchBridge$$' -timeout 10m ./daemon/cmd/mypoll-bridge
