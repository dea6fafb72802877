package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/leadscore/leads/pkg/tlsconf"
)

// TLSConfig is how the clients encrypt and authenticate their connections.
type TLSConfig struct {
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are a client certificate (mutual TLS), both or
	// neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string
}

// SASLConfig is how the clients log in to the brokers.
type SASLConfig struct {
	// Mechanism is "" (none), "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string
	Username  string
	Password  string
}

// Security errors, joined by Validate.
var (
	ErrTLSFiles      = errors.New("--kafka-tls-ca, --kafka-tls-cert and --kafka-tls-key need --kafka-tls")
	ErrTLSKeyPair    = errors.New("--kafka-tls-cert and --kafka-tls-key go together")
	ErrTLSLoad       = errors.New("the Kafka TLS files cannot be loaded")
	ErrSASLMechanism = errors.New("--kafka-sasl-mechanism must be plain, scram-sha-256 or scram-sha-512")
	ErrSASLUser      = errors.New("--kafka-sasl-mechanism needs --kafka-sasl-username and --kafka-sasl-password")
	ErrSASLNoMech    = errors.New("--kafka-sasl-username and --kafka-sasl-password need --kafka-sasl-mechanism")
)

func (c *Config) registerSecurityFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.TLS.Enabled, "kafka-tls", false, "connect to the brokers with TLS")
	fs.StringVar(&c.TLS.CAFile, "kafka-tls-ca", "", "PEM file of the CAs of the brokers' certificates (default: the system's)")
	fs.StringVar(&c.TLS.CertFile, "kafka-tls-cert", "", "PEM client certificate, for brokers that require mutual TLS")
	fs.StringVar(&c.TLS.KeyFile, "kafka-tls-key", "", "PEM private key of --kafka-tls-cert")
	fs.StringVar(&c.TLS.ServerName, "kafka-tls-server-name", "", "name expected in the brokers' certificates (default: the host dialled)")
	fs.StringVar(&c.SASL.Mechanism, "kafka-sasl-mechanism", "", "SASL login: plain, scram-sha-256 or scram-sha-512 (default: none)")
	fs.StringVar(&c.SASL.Username, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(&c.SASL.Password, "kafka-sasl-password", "", "SASL password (prefer the LEADS_KAFKA_SASL_PASSWORD variable, from a secret)")
}

func (c *Config) validateSecurity() []error {
	var errs []error
	t := &c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		errs = append(errs, ErrTLSFiles)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, ErrTLSKeyPair)
	} else if _, err := c.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	s := &c.SASL
	switch strings.ToLower(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			errs = append(errs, ErrSASLNoMech)
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.Username == "" || s.Password == "" {
			errs = append(errs, ErrSASLUser)
		}
	default:
		errs = append(errs, fmt.Errorf("%w, not %q", ErrSASLMechanism, s.Mechanism))
	}
	return errs
}

// tlsConfig returns nil when TLS is off.
func (c *Config) tlsConfig() (*tls.Config, error) {
	t := &c.TLS
	if !t.Enabled {
		return nil, nil
	}
	cfg, err := tlsconf.Client(t.ServerName, t.CAFile, t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSLoad, err)
	}
	return cfg, nil
}

// saslMechanism returns nil when SASL is off.
func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	s := &c.SASL
	switch strings.ToLower(s.Mechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("%w, not %q", ErrSASLMechanism, s.Mechanism)
}

// security returns the TLS config and SASL mechanism of the clients (nil
// when off).
func (c *Config) security() (*tls.Config, sasl.Mechanism, error) {
	t, err := c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	m, err := c.saslMechanism()
	if err != nil {
		return nil, nil, err
	}
	return t, m, nil
}

// dialer returns a dialer with the client ID, TLS and SASL. A security
// configuration that cannot be built (Validate reports it) makes every
// dial fail with the reason rather than fall back to plaintext.
func (c *Config) dialer(timeout time.Duration) *kafka.Dialer {
	d := &kafka.Dialer{ClientID: c.clientID(), Timeout: timeout, DualStack: true}
	tlsCfg, mech, err := c.security()
	if err != nil {
		d.Resolver = failingResolver{err}
		return d
	}
	d.TLS, d.SASLMechanism = tlsCfg, mech
	return d
}

// transport returns a transport with the client ID, TLS and SASL, for the
// writer and for admin requests; like dialer, a security configuration that
// cannot be built makes every dial fail with the reason.
func (c *Config) transport() *kafka.Transport {
	t := &kafka.Transport{ClientID: c.clientID()}
	if tlsCfg, mech, err := c.security(); err != nil {
		t.Dial = func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("kafka security: %w", err)
		}
	} else {
		t.TLS, t.SASL = tlsCfg, mech
	}
	return t
}

// failingResolver fails every dial of a dialer whose security settings are
// broken.
type failingResolver struct{ err error }

func (r failingResolver) LookupHost(context.Context, string) ([]string, error) {
	return nil, fmt.Errorf("kafka security: %w", r.err)
}
