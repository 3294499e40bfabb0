# Fleet bridge (PROTOCOL.md section C): tests against real brokers.
# mosquitto for the single-broker scenarios; nats-server (bookworm: 2.9.10,
# MQTT 3.1.1 needs JetStream) for the three-node cluster.
DEPS_APT += mosquitto nats-server

TEST_TARGETS += test-bridge

.PHONY: test-bridge

## test-bridge: mypoll-bridge against real mosquitto and nats-server on 127.0.0.1
test-bridge:
	$(GO) vet -tags brokers ./daemon/cmd/mypoll-bridge
	$(GO) test -race -count=1 -tags brokers -timeout 10m ./daemon/cmd/mypoll-bridge

BENCH_TARGETS += bench-bridge
.PHONY: bench-bridge

## bench-bridge: events/s and latency through mypoll-bridge into mosquitto beside a raw paho publisher; RSS, CPU/event; the fleet
bench-bridge:
	$(GO) test -v -count=1 -tags brokers,bench -run '^TestBenchBridge$$' -timeout 10m ./daemon/cmd/mypoll-bridge
