package listener

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/testpki"
)

// tlsResult is what both ends of one handshake saw.
type tlsResult struct {
	server      tls.ConnectionState
	serverErr   error
	clientErr   error
	clientState tls.ConnectionState
}

// handshake connects to ln with cfg. The server side runs the handshake the
// way the broker does, by using the accepted conn; it writes one byte when
// its handshake succeeded, so the client also learns about a refusal that
// TLS 1.3 reports only after the client's handshake has finished.
func handshake(t *testing.T, ln *Listener, cfg *tls.Config) tlsResult {
	t.Helper()
	var r tlsResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			r.serverErr = err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if r.serverErr = tc.Handshake(); r.serverErr == nil {
			r.server = tc.ConnectionState()
			_, r.serverErr = tc.Write([]byte{1})
		}
	}()
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1)
		var n int
		// The byte may come together with the close_notify (n == 1, EOF).
		if n, err = tc.Read(buf); n == 1 {
			err = nil
		}
		r.clientState = tc.ConnectionState()
		c.Close()
	}
	r.clientErr = err
	<-done
	return r
}

type tlsFixture struct {
	ca     *testpki.CA
	server testpki.Issued
	client testpki.Issued
}

func newTLSFixture(t *testing.T) *tlsFixture {
	ca := testpki.NewCA(t, "main")
	return &tlsFixture{ca: ca, server: ca.Issue("server", nil), client: ca.Issue("client", nil)}
}

func (f *tlsFixture) listener() *config.Listener {
	l := testListener()
	l.TLS.CertFile, l.TLS.KeyFile = f.server.CertFile, f.server.KeyFile
	return l
}

func (f *tlsFixture) clientConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost", Certificates: certs}
}

func TestTLSHandshake(t *testing.T) {
	f := newTLSFixture(t)
	ln := open(t, f.listener())
	if !ln.TLS() {
		t.Fatal("TLS() = false")
	}
	r := handshake(t, ln, f.clientConfig())
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("server %v, client %v", r.serverErr, r.clientErr)
	}
	if r.server.Version != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", r.server.Version)
	}
	// Without require_certificate Mosquitto does not ask for a client
	// certificate, even when a CA is configured and the client has one.
	l := f.listener()
	l.TLS.CAFile = f.ca.File
	ln = open(t, l)
	r = handshake(t, ln, f.clientConfig(f.client.TLS))
	if r.serverErr != nil || len(r.server.PeerCertificates) != 0 {
		t.Fatalf("client certificate requested without require_certificate: %v, %d certs", r.serverErr, len(r.server.PeerCertificates))
	}
	if _, ok := CertUsername(r.server, false); ok {
		t.Error("CertUsername ok without a client certificate")
	}
}

func TestTLSWrongCARefused(t *testing.T) {
	f := newTLSFixture(t)
	ln := open(t, f.listener())
	other := testpki.NewCA(t, "other")
	r := handshake(t, ln, &tls.Config{RootCAs: other.Pool(), ServerName: "localhost"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(r.clientErr, &unknown) {
		t.Fatalf("client err = %v, want unknown authority", r.clientErr)
	}
	if r.serverErr == nil {
		t.Fatal("server handshake succeeded")
	}
}

func TestRequireCertificate(t *testing.T) {
	f := newTLSFixture(t)
	l := f.listener()
	l.TLS.CAFile, l.TLS.RequireCertificate = f.ca.File, true
	ln := open(t, l)

	r := handshake(t, ln, f.clientConfig())
	if r.serverErr == nil || r.clientErr == nil {
		t.Fatalf("no client certificate: server %v, client %v; want both to fail", r.serverErr, r.clientErr)
	}

	r = handshake(t, ln, f.clientConfig(f.client.TLS))
	if r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("with certificate: server %v, client %v", r.serverErr, r.clientErr)
	}
	if u, ok := CertUsername(r.server, false); !ok || u != "client" {
		t.Errorf("CertUsername = %q, %v", u, ok)
	}
	if u, ok := CertUsername(r.server, true); !ok || u != "CN=client" {
		t.Errorf("CertUsername(subject) = %q, %v", u, ok)
	}

	stranger := testpki.NewCA(t, "stranger").Issue("intruder", nil)
	r = handshake(t, ln, f.clientConfig(stranger.TLS))
	if r.serverErr == nil {
		t.Fatal("certificate from an unknown CA accepted")
	}

	l.TLS.CAFile = ""
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "cafile or capath") {
		t.Fatalf("require_certificate without CA: err = %v", err)
	}
}

func TestCRL(t *testing.T) {
	f := newTLSFixture(t)
	revoked := f.ca.Issue("revoked", nil)
	l := f.listener()
	l.TLS.CAFile, l.TLS.RequireCertificate = f.ca.File, true
	l.TLS.CRLFile = f.ca.CRL("ca.crl", revoked.Cert)
	ln := open(t, l)

	if r := handshake(t, ln, f.clientConfig(f.client.TLS)); r.serverErr != nil || r.clientErr != nil {
		t.Fatalf("good certificate: server %v, client %v", r.serverErr, r.clientErr)
	}
	r := handshake(t, ln, f.clientConfig(revoked.TLS))
	if !errors.Is(r.serverErr, errRevoked) || r.clientErr == nil {
		t.Fatalf("revoked certificate: server %v, client %v", r.serverErr, r.clientErr)
	}

	// A CRL from another CA does not cover this issuer: refused, as
	// OpenSSL's CRL_CHECK refuses ("unable to get certificate CRL").
	l.TLS.CRLFile = testpki.NewCA(t, "elsewhere").CRL("other.crl")
	ln = open(t, l)
	if r := handshake(t, ln, f.clientConfig(f.client.TLS)); r.serverErr == nil || !strings.Contains(r.serverErr.Error(), "no CRL") {
		t.Fatalf("no CRL for the issuer: server %v", r.serverErr)
	}

	l.TLS.CRLFile = filepath.Join(t.TempDir(), "missing.crl")
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), l.TLS.CRLFile) {
		t.Fatalf("missing crlfile: err = %v", err)
	}
}

func TestTLSVersionMinimum(t *testing.T) {
	f := newTLSFixture(t)
	l := f.listener()
	l.TLS.TLSVersion = "tlsv1.3"
	ln := open(t, l)
	cfg := f.clientConfig()
	cfg.MaxVersion = tls.VersionTLS12
	if r := handshake(t, ln, cfg); r.clientErr == nil {
		t.Fatal("TLS 1.2 client accepted by a tlsv1.3 listener")
	}

	// Default: TLS 1.2 is the minimum, 1.2 itself works.
	ln = open(t, f.listener())
	if r := handshake(t, ln, cfg); r.clientErr != nil || r.server.Version != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2 client: %v (server %v), version %x", r.clientErr, r.serverErr, r.server.Version)
	}
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if r := handshake(t, ln, cfg); r.clientErr == nil {
		t.Fatal("TLS 1.1 client accepted by default")
	}
}

func TestCiphersOnListener(t *testing.T) {
	f := newTLSFixture(t) // ECDSA certificates
	l := f.listener()
	l.TLS.Ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384"
	l.TLS.Ciphers13 = "TLS_AES_256_GCM_SHA384"
	ln := open(t, l)
	if w := strings.Join(ln.Warnings(), "\n"); !strings.Contains(w, "DHE-RSA-AES256-GCM-SHA384") || !strings.Contains(w, "ciphers_tls1.3") {
		t.Errorf("warnings = %q", w)
	}
	cfg := f.clientConfig()
	cfg.MaxVersion = tls.VersionTLS12
	r := handshake(t, ln, cfg)
	if r.clientErr != nil || r.clientState.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("err %v, suite %s", r.clientErr, tls.CipherSuiteName(r.clientState.CipherSuite))
	}
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	if r := handshake(t, ln, cfg); r.clientErr == nil {
		t.Fatal("a suite outside the list was negotiated")
	}

	l.TLS.Ciphers = "ECDHE-RSA-AES128-GCM-SHA257"
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), `"ECDHE-RSA-AES128-GCM-SHA257"`) {
		t.Fatalf("unknown cipher: err = %v", err)
	}
}

func TestCAPath(t *testing.T) {
	f := newTLSFixture(t)
	dir := t.TempDir()
	other := testpki.NewCA(t, "other")
	// An OpenSSL hashed name, a .crt, a CRL and a README: the CA files are
	// found whatever their names, the rest is skipped.
	copyFile(t, f.ca.File, filepath.Join(dir, "9d66eef0.0"))
	copyFile(t, other.File, filepath.Join(dir, "other.crt"))
	copyFile(t, f.ca.CRL("x.crl"), filepath.Join(dir, "9d66eef0.r0"))
	os.WriteFile(filepath.Join(dir, "README"), []byte("CA certificates\n"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)

	l := f.listener()
	l.TLS.CAPath, l.TLS.RequireCertificate = dir, true
	ln := open(t, l)
	if r := handshake(t, ln, f.clientConfig(f.client.TLS)); r.serverErr != nil {
		t.Fatalf("client of the hashed-name CA: %v", r.serverErr)
	}
	if r := handshake(t, ln, f.clientConfig(other.Issue("o", nil).TLS)); r.serverErr != nil {
		t.Fatalf("client of the .crt CA: %v", r.serverErr)
	}

	os.WriteFile(filepath.Join(dir, "broken.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), 0o600)
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "broken.pem") {
		t.Fatalf("broken CA file: err = %v", err)
	}
	l.TLS.CAPath = t.TempDir()
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("empty capath: err = %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReloadTLS(t *testing.T) {
	f := newTLSFixture(t)
	certFile := filepath.Join(t.TempDir(), "server.crt")
	keyFile := filepath.Join(filepath.Dir(certFile), "server.key")
	copyFile(t, f.server.CertFile, certFile)
	copyFile(t, f.server.KeyFile, keyFile)
	l := f.listener()
	l.TLS.CertFile, l.TLS.KeyFile = certFile, keyFile
	ln := open(t, l)
	serial := func() string {
		t.Helper()
		r := handshake(t, ln, f.clientConfig())
		if r.clientErr != nil {
			t.Fatal(r.clientErr)
		}
		return r.clientState.PeerCertificates[0].SerialNumber.String()
	}
	if got, want := serial(), f.server.Cert.SerialNumber.String(); got != want {
		t.Fatalf("serial %s, want %s", got, want)
	}

	// An open connection survives the reload.
	accepted := acceptOne(t, ln)
	// Dial without the handshake: the server side handshakes lazily.
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	open := tls.Client(raw, f.clientConfig())
	defer open.Close()
	go open.Handshake()
	srv := waitConn(t, accepted)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.(*tls.Conn).Handshake() }()
	if err := <-srvDone; err != nil {
		t.Fatal(err)
	}

	next := f.ca.Issue("server2", nil)
	copyFile(t, next.CertFile, certFile)
	copyFile(t, next.KeyFile, keyFile)
	if err := ln.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got, want := serial(), next.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after reload serial %s, want %s", got, want)
	}

	// A broken certificate on reload: error naming the file, old one kept.
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	if err := ln.ReloadTLS(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("broken reload: err = %v", err)
	}
	if got, want := serial(), next.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after failed reload serial %s, want %s", got, want)
	}

	go func() { srv.Write([]byte("still here")) }()
	buf := make([]byte, 10)
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(buf); err != nil || string(buf) != "still here" {
		t.Fatalf("connection opened before the reload: %q, %v", buf, err)
	}
}

func TestKeyAndCertErrors(t *testing.T) {
	f := newTLSFixture(t)
	dir := t.TempDir()
	encrypted := filepath.Join(dir, "enc.key")
	os.WriteFile(encrypted, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), 0o600)
	legacy := filepath.Join(dir, "legacy.key")
	os.WriteFile(legacy, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}), 0o600)
	mismatched := f.ca.Issue("other", nil).KeyFile
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.crt"), f.server.KeyFile, "nope.crt"},
		{"missing key", f.server.CertFile, filepath.Join(dir, "nope.key"), "nope.key"},
		{"encrypted PKCS8", f.server.CertFile, encrypted, "encrypted"},
		{"encrypted legacy", f.server.CertFile, legacy, "encrypted"},
		{"key does not match", f.server.CertFile, mismatched, "other.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testListener()
			l.TLS.CertFile, l.TLS.KeyFile = tc.cert, tc.key
			_, err := openErr(t, l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestTLSWarnings(t *testing.T) {
	f := newTLSFixture(t)
	dh := filepath.Join(t.TempDir(), "dh.pem")
	os.WriteFile(dh, []byte("-----BEGIN DH PARAMETERS-----\n-----END DH PARAMETERS-----\n"), 0o600)
	l := f.listener()
	l.TLS.DHParamFile = dh
	l.TLS.UseIdentityAsUsername = true
	ln := open(t, l)
	w := strings.Join(ln.Warnings(), "\n")
	for _, want := range []string{"dhparamfile", "require_certificate"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q do not mention %s", w, want)
		}
	}
	l.TLS.DHParamFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing dhparamfile: err = %v", err)
	}
}
