package listener

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// maxChainDepth bounds the chain built from the CA files, as OpenSSL's
// default verify depth (100) does; it only matters for a CA file whose
// certificates sign each other in a loop.
const maxChainDepth = 100

// completeChain appends to cert the CA certificates that lead from its leaf
// towards a root, as OpenSSL does for Mosquitto. Clients that trust only
// the root need the intermediates: Go's crypto/tls sends exactly
// cert.Certificate, while OpenSSL, when certfile holds a single certificate,
// builds the chain from the CA store (cafile/capath) and sends all of it,
// root included. Checked against Mosquitto 2.0.11 with `openssl s_client
// -showcerts`:
//
//   - certfile leaf, cafile intermediate+root: sends leaf, intermediate, root;
//   - certfile leaf, cafile intermediate only: sends leaf, intermediate;
//   - certfile leaf+intermediate: sends the file as it is, whatever the CA
//     files hold (OpenSSL builds no chain once the file has extra certs);
//   - no CA file, or no issuer in it: sends the leaf alone.
//
// Issuers are matched by subject, authority key id and signature, so a CA
// that only has the same name as the real issuer is never sent.
func completeChain(cert *tls.Certificate, cas []*x509.Certificate) error {
	if len(cert.Certificate) != 1 || len(cas) == 0 {
		return nil
	}
	cur := cert.Leaf
	if cur == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return fmt.Errorf("parse certificate: %w", err)
		}
		cur = leaf
	}
	used := make(map[*x509.Certificate]bool)
	for range maxChainDepth {
		if selfSigned(cur) {
			return nil
		}
		next := findIssuer(cur, cas, used)
		if next == nil {
			return nil
		}
		used[next] = true
		cert.Certificate = append(cert.Certificate, next.Raw)
		cur = next
	}
	return nil
}

// findIssuer returns the certificate in cas, not yet in the chain, that
// signed c, or nil.
func findIssuer(c *x509.Certificate, cas []*x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	for _, ca := range cas {
		if used[ca] || !bytes.Equal(c.RawIssuer, ca.RawSubject) {
			continue
		}
		if len(c.AuthorityKeyId) > 0 && len(ca.SubjectKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, ca.SubjectKeyId) {
			continue
		}
		// CheckSignatureFrom also refuses a parent that is not a CA.
		if c.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}

// selfSigned reports whether c is a root: issued by itself and verifiable
// with its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
