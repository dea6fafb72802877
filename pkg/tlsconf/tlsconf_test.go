package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

// handshake dials a TLS server with cfg at host (the server's certificate
// is for localhost and 127.0.0.1) and returns the client's handshake error
// and the client certificates the server received.
func handshake(t *testing.T, server *tls.Config, host string, cfg *tls.Config) ([]*x509.Certificate, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	peers := make(chan []*x509.Certificate, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peers <- nil
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			peers <- nil
			return
		}
		peers <- tc.ConnectionState().PeerCertificates
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// tls.Dial checks the host dialled when the configuration names none.
	c, err := tls.Dial("tcp", net.JoinHostPort(host, port), cfg)
	if err != nil {
		ln.Close()
		<-peers
		return nil, err
	}
	defer c.Close()
	return <-peers, nil
}

func TestAClientTrustsTheCAItIsGivenInsteadOfTheSystemRoots(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	tests := []struct {
		name   string
		caFile string
		ok     bool
	}{
		{"the test CA signed the server's certificate", files.CA, true},
		{"the system roots do not know the test CA", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Client("", tt.caFile, "", "")
			require.NoError(t, err)
			assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
			_, err = handshake(t, files.Server, "127.0.0.1", cfg)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				var unknown x509.UnknownAuthorityError
				assert.ErrorAs(t, err, &unknown)
			}
		})
	}
}

func TestAClientChecksTheServerNameItIsGiven(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	tests := []struct {
		name       string
		serverName string
		ok         bool
	}{
		{"no name: the host dialled, in the certificate", "", true},
		{"a name in the certificate, not the host dialled", "localhost", true},
		{"a name not in the certificate, though the host dialled is", "kafka.internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Client(tt.serverName, files.CA, "", "")
			require.NoError(t, err)
			assert.Equal(t, tt.serverName, cfg.ServerName)
			_, err = handshake(t, files.Server, "127.0.0.1", cfg)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				var wrong x509.HostnameError
				assert.ErrorAs(t, err, &wrong)
			}
		})
	}
}

func TestAClientPresentsACertificateOnlyWhenGivenCertAndKey(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	pemCert, err := os.ReadFile(files.Cert)
	require.NoError(t, err)
	mine, _ := pem.Decode(pemCert)
	require.NotNil(t, mine)
	tests := []struct {
		name      string
		cert, key string
		presents  bool
	}{
		{"cert and key", files.Cert, files.Key, true},
		{"neither", "", "", false},
		{"a key alone is no certificate", "", files.Key, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Client("", files.CA, tt.cert, tt.key)
			require.NoError(t, err)
			peers, err := handshake(t, files.Server, "localhost", cfg)
			require.NoError(t, err)
			if !tt.presents {
				assert.Empty(t, cfg.Certificates)
				assert.Empty(t, peers)
				return
			}
			require.Len(t, peers, 1)
			assert.Equal(t, mine.Bytes, peers[0].Raw)
		})
	}
}

func TestAFileThatDoesNotLoadIsAnErrorNamingIt(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	other := testutil.TLS(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not PEM\n"), 0o600))
	tests := []struct {
		name                      string
		caFile, certFile, keyFile string
		names                     string
	}{
		{"a missing CA file", missing, "", "", missing},
		{"a CA file without a certificate", files.Key, "", "", files.Key},
		{"a missing certificate", files.CA, missing, files.Key, missing},
		{"a missing key", files.CA, files.Cert, missing, missing},
		{"a certificate file without a certificate", files.CA, garbage, files.Key, garbage},
		{"a certificate file holding a key", files.CA, files.Key, other.Key, files.Key},
		{"a key file without a key", files.CA, files.Cert, garbage, garbage},
		{"a key file holding a certificate", files.CA, files.Cert, other.Cert, other.Cert},
		{"a key that is not the certificate's", files.CA, files.Cert, other.Key, other.Key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Client("", tt.caFile, tt.certFile, tt.keyFile)
			assert.Nil(t, cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.names)
		})
	}
}

func TestACertificateWithoutItsKeyIsAnError(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	cfg, err := Client("", files.CA, files.Cert, "")
	assert.Nil(t, cfg)
	assert.Error(t, err)
}
