package listener

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/testpki"
)

// clientPKI is Mosquitto's test PKI in small for client certificates: a
// root, the signing intermediate, a client certificate the intermediate
// signs, and a server certificate the root signs directly (so that the
// test client verifies the server whatever the CA files hold).
type clientPKI struct {
	root, inter *testpki.CA
	server      testpki.Issued
	client      testpki.Issued
}

func newClientPKI(t *testing.T) *clientPKI {
	t.Helper()
	root := testpki.NewCA(t, "root")
	inter := root.Intermediate("signing")
	return &clientPKI{root: root, inter: inter, server: root.Issue("server", nil), client: inter.Issue("client", nil)}
}

// sending returns the client's certificate followed by the given CAs, the
// chain a client presents.
func (p *clientPKI) sending(cas ...*testpki.CA) tls.Certificate {
	c := p.client.TLS
	c.Certificate = append([][]byte(nil), c.Certificate...)
	for _, ca := range cas {
		c.Certificate = append(c.Certificate, ca.Cert.Raw)
	}
	return c
}

// clientConfig presents cert whatever CA names the server lists, as
// OpenSSL clients (libmosquitto) do; a Go client with Certificates would
// send nothing when its chain names none of them.
func (p *clientPKI) clientConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.root.Pool(), ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// hashedName returns the name OpenSSL looks a CA certificate up by in a
// capath (c_rehash's subject hash and ".0"), or "" without openssl.
func hashedName(t *testing.T, certFile string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl is required in CI: %v", err)
		}
		return ""
	}
	out, err := exec.Command("openssl", "x509", "-hash", "-noout", "-in", certFile).Output()
	if err != nil {
		t.Fatalf("openssl x509 -hash: %v", err)
	}
	return strings.TrimSpace(string(out)) + ".0"
}

// TestClientCertTrustLikeOpenSSL pins which cafile/capath contents let a
// client certificate in (require_certificate true): only a chain ending in
// a self-signed certificate of the CA files, with intermediates from the CA
// files or sent by the client, as OpenSSL verifies for Mosquitto. Each cell
// is run against the real mosquitto too when it is installed; the table is
// what Mosquitto 2.0.11 does.
func TestClientCertTrustLikeOpenSSL(t *testing.T) {
	p := newClientPKI(t)
	self := testpki.SelfSigned(t, "self")
	// OpenSSL finds a capath's certificates by their hashed names only;
	// midge reads every file (see loadCAs), so the plain names are a known
	// difference.
	capath, plainCApath := t.TempDir(), t.TempDir()
	rootName, interName := hashedName(t, p.root.File), hashedName(t, p.inter.File)
	copyFile(t, p.root.File, filepath.Join(capath, cmp.Or(rootName, "root.pem")))
	copyFile(t, p.inter.File, filepath.Join(capath, cmp.Or(interName, "signing.pem")))
	copyFile(t, p.root.File, filepath.Join(plainCApath, "root.pem"))
	copyFile(t, p.inter.File, filepath.Join(plainCApath, "signing.pem"))
	no := false
	leaf, withInter, withRoot := p.sending(), p.sending(p.inter), p.sending(p.inter, p.root)

	type try struct {
		name string
		cert tls.Certificate
		ok   bool
	}
	tests := []struct {
		name           string
		caFile, caPath string
		tries          []try
		// mosquittoOK, when not nil, is Mosquitto's verdict on every try
		// where it knowingly differs from ours.
		mosquittoOK *bool
	}{
		// Go alone would take the intermediate as an anchor.
		{"intermediate only", p.inter.File, "", []try{{"leaf", leaf, false}, {"leaf+intermediate", withInter, false}, {"leaf+intermediate+root", withRoot, false}}, nil},
		{"root only", p.root.File, "", []try{{"leaf", leaf, false}, {"leaf+intermediate", withInter, true}, {"leaf+intermediate+root", withRoot, true}}, nil},
		{"root and intermediate", concatFiles(t, "all-ca.crt", p.inter.File, p.root.File), "", []try{{"leaf", leaf, true}, {"leaf+intermediate", withInter, true}, {"leaf+intermediate+root", withRoot, true}}, nil},
		{"intermediate and root in capath", "", capath, []try{{"leaf", leaf, true}, {"leaf+intermediate", withInter, true}}, nil},
		{"capath without hashed names", "", plainCApath, []try{{"leaf", leaf, true}}, &no},
		{"the client's own certificate", p.client.CertFile, "", []try{{"leaf", leaf, false}, {"leaf+intermediate+root", withRoot, false}}, nil},
		// A self-signed client certificate is its own root.
		{"self-signed client certificate", self.CertFile, "", []try{{"self-signed", self.TLS, true}, {"leaf", leaf, false}}, nil},
	}
	mosquitto := haveMosquitto(t)
	for _, tc := range tests {
		l := testListener()
		l.TLS.CertFile, l.TLS.KeyFile = p.server.CertFile, p.server.KeyFile
		l.TLS.CAFile, l.TLS.CAPath, l.TLS.RequireCertificate = tc.caFile, tc.caPath, true
		ln := open(t, l)
		var mosqAddr string
		if mosquitto {
			conf := fmt.Sprintf("certfile %s\nkeyfile %s\nrequire_certificate true\n", p.server.CertFile, p.server.KeyFile)
			if tc.caFile != "" {
				conf += "cafile " + tc.caFile + "\n"
			}
			if tc.caPath != "" {
				conf += "capath " + tc.caPath + "\n"
			}
			mosqAddr = startMosquitto(t, conf)
		}
		for _, tr := range tc.tries {
			t.Run(tc.name+"/"+tr.name, func(t *testing.T) {
				cfg := p.clientConfig(tr.cert)
				r := handshake(t, ln, cfg)
				if ok := r.serverErr == nil && r.clientErr == nil; ok != tr.ok {
					t.Fatalf("midge: server %v, client %v; want ok=%v", r.serverErr, r.clientErr, tr.ok)
				}
				if tr.ok {
					// VerifiedChains is filled: use_identity_as_username works.
					want := tr.cert.Leaf.Subject.CommonName
					if u, ok := CertUsername(r.server, false); !ok || u != want {
						t.Errorf("CertUsername = %q, %v; want %q", u, ok, want)
					}
				} else if _, ok := errors.AsType[*tls.CertificateVerificationError](r.serverErr); !ok {
					t.Errorf("server error %v (%T), want a *tls.CertificateVerificationError", r.serverErr, r.serverErr)
				}
				if mosqAddr == "" || tc.caPath == capath && rootName == "" {
					return
				}
				want := tr.ok
				if tc.mosquittoOK != nil {
					want = *tc.mosquittoOK
				}
				if ok, err := mosquittoAccepts(t, mosqAddr, cfg); ok != want {
					t.Errorf("mosquitto: accepted=%v (%v), want %v", ok, err, want)
				} else if !ok && !tr.ok {
					t.Logf("refused: mosquitto with %v, midge with %v", err, r.clientErr)
				}
			})
		}
	}
}

// TestClientCertTrustWarning: a CA file with no root can verify no client,
// which Mosquitto accepts silently; we say so at start.
func TestClientCertTrustWarning(t *testing.T) {
	p := newClientPKI(t)
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile = p.server.CertFile, p.server.KeyFile
	l.TLS.CAFile, l.TLS.RequireCertificate = p.inter.File, true
	if w := strings.Join(open(t, l).Warnings(), "\n"); !strings.Contains(w, "no self-signed") {
		t.Errorf("warnings = %q, want one about the missing root", w)
	}
	l.TLS.CAFile = p.root.File
	if w := open(t, l).Warnings(); len(w) != 0 {
		t.Errorf("warnings with a root: %q", w)
	}
}

// TestClientCertCRLThroughSentIntermediate checks crlfile when the client's
// issuer is not in the CA files but sent by the client: the intermediate's
// CRL still decides.
func TestClientCertCRLThroughSentIntermediate(t *testing.T) {
	p := newClientPKI(t)
	revoked := p.inter.Issue("revoked", nil)
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile = p.server.CertFile, p.server.KeyFile
	l.TLS.CAFile, l.TLS.RequireCertificate = p.root.File, true
	l.TLS.CRLFile = p.inter.CRL("signing.crl", revoked.Cert)
	ln := open(t, l)
	if r := handshake(t, ln, p.clientConfig(p.sending(p.inter))); r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("good client: server %v, client %v", r.serverErr, r.clientErr)
	}
	bad := revoked.TLS
	bad.Certificate = append(bad.Certificate[:1:1], p.inter.Cert.Raw)
	if r := handshake(t, ln, p.clientConfig(bad)); !errors.Is(r.serverErr, errRevoked) {
		t.Fatalf("revoked client: server %v", r.serverErr)
	}
}

// TestClientCertTrustAfterReload checks that SIGHUP re-reads the CA files
// for client verification: an intermediate-only cafile refuses the client,
// the same file with the root added then accepts it.
func TestClientCertTrustAfterReload(t *testing.T) {
	p := newClientPKI(t)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	copyFile(t, p.inter.File, caFile)
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile = p.server.CertFile, p.server.KeyFile
	l.TLS.CAFile, l.TLS.RequireCertificate = caFile, true
	ln := open(t, l)
	cfg := p.clientConfig(p.sending())
	if r := handshake(t, ln, cfg); r.serverErr == nil {
		t.Fatal("intermediate-only cafile accepted the client")
	}
	copyFile(t, concatFiles(t, "all.crt", p.inter.File, p.root.File), caFile)
	if err := ln.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if r := handshake(t, ln, cfg); r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("after reload: server %v, client %v", r.serverErr, r.clientErr)
	}
}
