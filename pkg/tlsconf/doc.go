// Package tlsconf builds the TLS client configuration of the Kafka and Redis
// clients from the PEM files their flags name.
package tlsconf
