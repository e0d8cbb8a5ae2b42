package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// clientTrust verifies client certificates (require_certificate) the way
// OpenSSL verifies them for Mosquitto. OpenSSL, without
// X509_V_FLAG_PARTIAL_CHAIN (which Mosquitto does not set), only accepts a
// chain that ends in a self-signed certificate of cafile/capath; the other
// certificates there can link a chain but never end it. crypto/tls takes
// every certificate of ClientCAs as an anchor, so with cafile holding only
// an intermediate it would accept the intermediate's clients, which
// Mosquitto 2.0.11 refuses ("certificate verify failed"). Checked against
// Mosquitto 2.0.11 with its test PKI (a root, the signing intermediate and
// client.crt signed by it):
//
//   - cafile intermediate only: refused, even when the client sends the
//     intermediate and the root;
//   - cafile root only: the leaf alone is refused, the leaf sent with the
//     intermediate accepted;
//   - cafile root and intermediate: the leaf alone is accepted.
//
// crypto/tls still runs its own check first, with every CA certificate as
// an anchor: that check fills tls.ConnectionState.VerifiedChains, which
// CertUsername (use_identity_as_username, use_subject_as_username) relies
// on, and it accepts whatever this stricter one does (the part of an
// OpenSSL chain up to its first certificate from the CA files is a chain
// crypto/tls accepts), so verify decides. crypto/tls calls verify (its
// VerifyConnection) on resumed sessions too, so those are checked again.
type clientTrust struct {
	anchors  *x509.CertPool         // the self-signed certificates
	nAnchors int                    // how many
	links    *x509.CertPool         // the others, intermediates only
	crls     []*x509.RevocationList // crlfile; nil without one
}

// newClientTrust splits the CA files' certificates into anchors and links.
func newClientTrust(cas []*x509.Certificate, crls []*x509.RevocationList) *clientTrust {
	ct := &clientTrust{anchors: x509.NewCertPool(), links: x509.NewCertPool(), crls: crls}
	for _, c := range cas {
		if selfSigned(c) {
			ct.anchors.AddCert(c)
			ct.nAnchors++
		} else {
			ct.links.AddCert(c)
		}
	}
	return ct
}

// hasAnchor reports whether any client certificate can be accepted at all.
func (ct *clientTrust) hasAnchor() bool { return ct.nAnchors > 0 }

// verify is the listener's tls.Config.VerifyConnection: the chain from
// the client's certificate to an anchor, with intermediates from the CA
// files and from what the client sent, and then the CRLs. A refusal is the
// *tls.CertificateVerificationError crypto/tls itself returns for a chain
// it refuses, and crypto/tls answers it with a bad_certificate alert.
func (ct *clientTrust) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		// crypto/tls (RequireAndVerifyClientCert) never lets this through.
		return errors.New("no client certificate")
	}
	inter := ct.links
	if len(cs.PeerCertificates) > 1 {
		inter = ct.links.Clone()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
	}
	now := time.Now()
	chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         ct.anchors,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, // as crypto/tls asks
	})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	if ct.crls != nil {
		return checkRevocation(chains, ct.crls, now)
	}
	return nil
}
