package clientflags

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
)

// trustStore is what --cafile and --capath hold, split the way OpenSSL
// uses them. OpenSSL (without X509_V_FLAG_PARTIAL_CHAIN, which libmosquitto
// does not set) only accepts a chain that ends in a self-signed certificate
// of the store; a certificate of the store that is not self-signed (a
// server's leaf, an intermediate CA) can link a chain but never ends it.
// Go would take any certificate in RootCAs as an anchor, so that
// `--cafile server.crt` or `--cafile intermediate.crt` would be accepted
// where mosquitto_pub fails with "A TLS error occurred." (checked against
// mosquitto_pub 2.0.11).
type trustStore struct {
	anchors *x509.CertPool // self-signed certificates only
	links   *x509.CertPool // the others, as intermediates
}

// loadTrustStore reads --cafile and every file in --capath, starting from
// the system's roots with --tls-use-os-certs. An unreadable --cafile or
// --capath is an error (the caller prints libmosquitto's "File not found");
// a block that is not a certificate is skipped, as
// x509.CertPool.AppendCertsFromPEM skips it.
func (c *Config) loadTrustStore() (*trustStore, error) {
	ts := &trustStore{anchors: x509.NewCertPool(), links: x509.NewCertPool()}
	if c.TLSUseOSCerts {
		if sys, err := x509.SystemCertPool(); err == nil {
			ts.anchors = sys
		}
	}
	if c.CAFile != "" {
		data, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		ts.add(data)
	}
	if c.CAPath != "" {
		entries, err := os.ReadDir(c.CAPath)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Subdirectories and unreadable entries are skipped.
			if data, err := os.ReadFile(filepath.Join(c.CAPath, e.Name())); err == nil {
				ts.add(data)
			}
		}
	}
	return ts, nil
}

// add puts every certificate of a PEM file where it belongs.
func (ts *trustStore) add(data []byte) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		switch {
		case err != nil:
		case selfSigned(cert):
			ts.anchors.AddCert(cert)
		default:
			ts.links.AddCert(cert)
		}
	}
}

// selfSigned reports whether c could end a chain for OpenSSL: issued by
// itself and verifiable with its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// serverVerifier verifies the server's chain in place of crypto/tls (which
// must then be told InsecureSkipVerify): anchors from roots (nil: the
// system's), intermediates from links and from what the server sent, and
// the host name with libmosquitto's rules (see checkHostname) unless host
// is "" (--insecure, which libmosquitto uses to skip only the host name
// check, never the chain).
func serverVerifier(roots, links *x509.CertPool, host string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("clientflags: server sent no certificate")
		}
		inter := x509.NewCertPool()
		if links != nil {
			inter = links.Clone()
		}
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		leaf := cs.PeerCertificates[0]
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		if err == nil && host != "" {
			err = checkHostname(leaf, host)
		}
		if err != nil {
			// The error crypto/tls itself returns for a chain it refuses.
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
}
