// Package brokertest runs real MQTT brokers for tests: Debian's mosquitto
// and a three-node nats-server cluster on 127.0.0.1 ports picked at run
// time, each a child process with its output in a log file and killed at
// the test's cleanup, and a consumer that checks PROTOCOL.md C.3's
// coverage invariant per device and instance_id, deduplicating as a
// backend would.
//
// It is for the broker tests of mypoll-bridge and the end-to-end tests
// only. It must not know mypolld or the bridge (those tests start them
// with Start), and it must not be imported by a product package: it
// imports testing.
package brokertest
