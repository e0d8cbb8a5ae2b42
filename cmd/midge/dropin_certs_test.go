package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"

	"github.com/midge-mqtt/midge/internal/testpki"
)

// dropinPKI is the certificate material of the drop-in test, as PEM files
// that both Mosquitto (OpenSSL) and midge (crypto/tls) read.
type dropinPKI struct {
	caFile, serverCert, serverKey string
	// clients maps a name ("alice", "dev-7", "nocn") to its cert and key files.
	clients map[string][2]string
}

// newDropinPKI makes a CA, a server certificate for 127.0.0.1/localhost and
// one client certificate per common name. An empty common name gives a
// certificate with no CN at all, which use_identity_as_username must refuse.
func newDropinPKI(t *testing.T, clientCNs map[string]string) *dropinPKI {
	t.Helper()
	ca := testpki.NewCA(t, "midge drop-in test CA")
	server := ca.Issue("server", func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "localhost"}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	p := &dropinPKI{caFile: ca.File, serverCert: server.CertFile, serverKey: server.KeyFile, clients: map[string][2]string{}}
	for name, cn := range clientCNs {
		issued := ca.Issue("client-"+name, func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: cn}
			if cn == "" {
				// Still a distinguishable subject, just without a CN.
				c.Subject = pkix.Name{Organization: []string{"midge"}, OrganizationalUnit: []string{name}}
			}
			c.DNSNames, c.IPAddresses = nil, nil
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		})
		p.clients[name] = [2]string{issued.CertFile, issued.KeyFile}
	}
	return p
}
