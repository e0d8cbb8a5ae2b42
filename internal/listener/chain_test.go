package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/midge-mqtt/midge/internal/testpki"
)

// chainFixture is Mosquitto's test PKI in small: a root, an intermediate
// that signs the server and client certificates, and the CA file holding
// both CAs (Mosquitto's all-ca.crt).
type chainFixture struct {
	root, inter    *testpki.CA
	server, client testpki.Issued
	allCA          string
}

func newChainFixture(t *testing.T) *chainFixture {
	t.Helper()
	root := testpki.NewCA(t, "root")
	inter := root.Intermediate("signing")
	f := &chainFixture{root: root, inter: inter, server: inter.Issue("server", nil), client: inter.Issue("client", nil)}
	f.allCA = concatFiles(t, "all-ca.crt", inter.File, root.File)
	return f
}

// rootOnly is a client that trusts the root alone, as Mosquitto's tests'
// ssl.create_default_context(cafile="test-root-ca.crt") does.
func (f *chainFixture) rootOnly(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: f.root.Pool(), ServerName: "localhost", Certificates: certs}
}

func concatFiles(t *testing.T, name string, files ...string) string {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sentChain returns the subjects' common names of the chain the server sent.
func sentChain(r tlsResult) []string {
	var names []string
	for _, c := range r.clientState.PeerCertificates {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChainCompletedFromCAFile is the case of Mosquitto's 08-ssl-connect-*
// tests: certfile holds only the leaf, cafile the intermediate and the
// root, and the client trusts only the root. OpenSSL sends leaf,
// intermediate and root; so must we, or the client cannot find the
// intermediate ("unable to get local issuer certificate").
func TestChainCompletedFromCAFile(t *testing.T) {
	f := newChainFixture(t)
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile = f.server.CertFile, f.server.KeyFile
	l.TLS.CAFile = f.allCA
	ln := open(t, l)
	r := handshake(t, ln, f.rootOnly())
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("client trusting the root: client %v, server %v", r.clientErr, r.serverErr)
	}
	if got, want := sentChain(r), []string{"server", "signing", "root"}; !equalNames(got, want) {
		t.Errorf("chain sent = %v, want %v", got, want)
	}

	// require_certificate with the same cafile: a client certificate signed
	// by the intermediate is accepted, one from elsewhere is not.
	l.TLS.RequireCertificate = true
	ln = open(t, l)
	if r := handshake(t, ln, f.rootOnly(f.client.TLS)); r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("client certificate from the intermediate: client %v, server %v", r.clientErr, r.serverErr)
	}
	if r := handshake(t, ln, f.rootOnly()); r.serverErr == nil {
		t.Fatal("require_certificate: client without a certificate accepted")
	}
	stranger := testpki.NewCA(t, "stranger").Issue("intruder", nil)
	if r := handshake(t, ln, f.rootOnly(stranger.TLS)); r.serverErr == nil {
		t.Fatal("require_certificate: client certificate of an unknown CA accepted")
	}

	// The CRL of the intermediate revokes a client it signed.
	revoked := f.inter.Issue("revoked", nil)
	l.TLS.CRLFile = f.inter.CRL("signing.crl", revoked.Cert)
	ln = open(t, l)
	if r := handshake(t, ln, f.rootOnly(f.client.TLS)); r.serverErr != nil {
		t.Fatalf("good client with crlfile: %v", r.serverErr)
	}
	if r := handshake(t, ln, f.rootOnly(revoked.TLS)); !errors.Is(r.serverErr, errRevoked) {
		t.Fatalf("revoked client: server %v", r.serverErr)
	}
}

// TestChainCases pins what is sent in the other cases, each checked against
// Mosquitto 2.0.11 with openssl s_client -showcerts.
func TestChainCases(t *testing.T) {
	f := newChainFixture(t)
	// Same subject as the root but another key: never taken as the issuer.
	fake := testpki.NewCA(t, "root")
	capath := t.TempDir()
	copyFile(t, f.inter.File, filepath.Join(capath, "signing.pem"))
	copyFile(t, f.root.File, filepath.Join(capath, "root.pem"))
	tests := []struct {
		name, certFile, caFile, caPath string
		want                           []string
		verifies                       bool // by a client trusting the root only
	}{
		{"no CA files", f.server.CertFile, "", "", []string{"server"}, false},
		{"intermediate only", f.server.CertFile, f.inter.File, "", []string{"server", "signing"}, true},
		{"capath", f.server.CertFile, "", capath, []string{"server", "signing", "root"}, true},
		{"look-alike root first", f.server.CertFile, concatFiles(t, "ca.crt", fake.File, f.inter.File, f.root.File), "", []string{"server", "signing", "root"}, true},
		{"unrelated CA", f.server.CertFile, testpki.NewCA(t, "other").File, "", []string{"server"}, false},
		// OpenSSL builds no chain once certfile has more than the leaf.
		{"certfile with intermediate", concatFiles(t, "chain.crt", f.server.CertFile, f.inter.File), f.allCA, "", []string{"server", "signing"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testListener()
			l.TLS.CertFile, l.TLS.KeyFile = tc.certFile, f.server.KeyFile
			l.TLS.CAFile, l.TLS.CAPath = tc.caFile, tc.caPath
			ln := open(t, l)
			// Look at what was sent without verifying it, then verify.
			r := handshake(t, ln, &tls.Config{InsecureSkipVerify: true})
			if r.clientErr != nil {
				t.Fatal(r.clientErr)
			}
			if got := sentChain(r); !equalNames(got, tc.want) {
				t.Errorf("chain sent = %v, want %v", got, tc.want)
			}
			r = handshake(t, ln, f.rootOnly())
			if verified := r.clientErr == nil; verified != tc.verifies {
				t.Errorf("client trusting the root: err %v, want verified=%v", r.clientErr, tc.verifies)
			}
		})
	}
}

// TestCompleteChainStops checks the ends of the walk: a self-signed
// certificate gets nothing appended, and a CA listed twice is sent once.
func TestCompleteChainStops(t *testing.T) {
	f := newChainFixture(t)
	root := tls.Certificate{Certificate: [][]byte{f.root.Cert.Raw}}
	if err := completeChain(&root, []*x509.Certificate{f.inter.Cert, f.root.Cert}); err != nil || len(root.Certificate) != 1 {
		t.Fatalf("self-signed: %d certificates, err %v", len(root.Certificate), err)
	}

	// The same CA listed twice (cafile and capath): still sent once.
	leaf := tls.Certificate{Certificate: [][]byte{f.server.Cert.Raw}}
	cas := []*x509.Certificate{f.inter.Cert, f.inter.Cert, f.root.Cert, f.root.Cert}
	if err := completeChain(&leaf, cas); err != nil || len(leaf.Certificate) != 3 {
		t.Fatalf("duplicates: %d certificates, err %v", len(leaf.Certificate), err)
	}
}

// TestChainAfterReload checks that SIGHUP rebuilds the chain from the files
// as they are then: a new leaf and a CA file that now holds its issuer.
func TestChainAfterReload(t *testing.T) {
	f := newChainFixture(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	copyFile(t, f.server.CertFile, certFile)
	copyFile(t, f.server.KeyFile, keyFile)
	copyFile(t, f.root.File, caFile) // the intermediate is missing at first
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile, l.TLS.CAFile = certFile, keyFile, caFile
	ln := open(t, l)
	if r := handshake(t, ln, f.rootOnly()); r.clientErr == nil {
		t.Fatal("verified without the intermediate")
	}

	next := f.inter.Issue("server2", nil)
	copyFile(t, next.CertFile, certFile)
	copyFile(t, next.KeyFile, keyFile)
	copyFile(t, f.allCA, caFile)
	if err := ln.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	r := handshake(t, ln, f.rootOnly())
	if r.clientErr != nil {
		t.Fatalf("after reload: %v", r.clientErr)
	}
	if got, want := sentChain(r), []string{"server2", "signing", "root"}; !equalNames(got, want) {
		t.Errorf("chain sent after reload = %v, want %v", got, want)
	}
}
