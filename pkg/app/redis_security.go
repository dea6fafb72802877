package app

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"

	"github.com/leadscore/leads/pkg/tlsconf"
)

// RedisSecurity is how the programs log in to Redis and encrypt the
// connection: an ACL user (Redis 6+) or the default user's password, and
// TLS. A rediss:// URL turns TLS on too; these flags add a CA, a client
// certificate, or credentials to it.
type RedisSecurity struct {
	Username string
	Password string
	TLS      bool
	// CAFile is a PEM bundle of the CAs that sign the server's
	// certificate; empty means the system's roots.
	CAFile            string
	CertFile, KeyFile string
	ServerName        string
}

// Errors from RedisSecurity.Validate.
var (
	ErrRedisTLSFiles   = errors.New("--redis-tls-ca, --redis-tls-cert, --redis-tls-key and --redis-tls-server-name need --redis-tls")
	ErrRedisTLSKeyPair = errors.New("--redis-tls-cert and --redis-tls-key go together")
	ErrRedisTLSLoad    = errors.New("the Redis TLS files cannot be loaded")
	ErrRedisUser       = errors.New("--redis-username needs --redis-password")
)

// RegisterFlags adds the Redis security flags.
func (s *RedisSecurity) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Username, "redis-username", "", "Redis ACL user (default: the default user)")
	fs.StringVar(&s.Password, "redis-password", "", "Redis password (prefer the LEADS_REDIS_PASSWORD variable, from a secret)")
	fs.BoolVar(&s.TLS, "redis-tls", false, "connect to Redis with TLS (a rediss:// address does too)")
	fs.StringVar(&s.CAFile, "redis-tls-ca", "", "PEM file of the CAs of Redis's certificate (default: the system's)")
	fs.StringVar(&s.CertFile, "redis-tls-cert", "", "PEM client certificate, for a Redis with tls-auth-clients yes")
	fs.StringVar(&s.KeyFile, "redis-tls-key", "", "PEM private key of --redis-tls-cert")
	fs.StringVar(&s.ServerName, "redis-tls-server-name", "", "name expected in Redis's certificate (default: the host dialled)")
}

// Validate checks the flags and loads the TLS files.
func (s *RedisSecurity) Validate() error {
	var errs []error
	if !s.TLS && (s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != "") {
		errs = append(errs, ErrRedisTLSFiles)
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		errs = append(errs, ErrRedisTLSKeyPair)
	} else if _, err := s.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	if s.Username != "" && s.Password == "" {
		errs = append(errs, ErrRedisUser)
	}
	return errors.Join(errs...)
}

// tlsConfig returns nil when TLS is off.
func (s *RedisSecurity) tlsConfig() (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	cfg, err := tlsconf.Client(s.ServerName, s.CAFile, s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRedisTLSLoad, err)
	}
	return cfg, nil
}

// apply sets the credentials and TLS on a client's options; flags given
// override what a URL said.
func (s *RedisSecurity) apply(username, password *string, tlsCfg **tls.Config) error {
	if s.Username != "" {
		*username = s.Username
	}
	if s.Password != "" {
		*password = s.Password
	}
	t, err := s.tlsConfig()
	if err != nil {
		return err
	}
	if t != nil {
		*tlsCfg = t
	}
	return nil
}
