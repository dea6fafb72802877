// Package devstack runs the whole pipeline on one machine with nothing
// installed: an embedded Kafka broker, redis-server (or miniredis), the
// ingestor, the scorer and the decayer in-process, and demo traffic.
package devstack
