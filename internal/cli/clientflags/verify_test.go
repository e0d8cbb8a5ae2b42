package clientflags

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/testpki"
)

// serveTLS accepts TLS connections on 127.0.0.1:0 with cert until the test
// ends and returns the address. Each handshake runs to its end on the
// server side so the client sees the whole exchange.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// selfSignedLeaf is a server certificate signed by its own key that is not
// a CA (basicConstraints CA:FALSE): the classic self-signed broker.
func selfSignedLeaf(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key := testpki.NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "self.crt")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

func concat(t *testing.T, files ...string) string {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	p := filepath.Join(t.TempDir(), "bundle.crt")
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServerTrustLikeOpenSSL pins which --cafile/--capath contents make
// the server trusted: only a chain ending in a self-signed certificate of
// the CA files is, as in mosquitto_pub 2.0.11, which refuses
// `--cafile server.crt` and `--cafile intermediate.crt` with "Error: A TLS
// error occurred." (exit 8) where Go alone would accept them.
func TestServerTrustLikeOpenSSL(t *testing.T) {
	root := testpki.NewCA(t, "root")
	inter := root.Intermediate("signing")
	leaf := inter.Issue("server", nil)
	withChain := leaf.TLS
	withChain.Certificate = append(withChain.Certificate, inter.Cert.Raw, root.Cert.Raw)
	full := serveTLS(t, withChain) // leaf, intermediate, root: what Mosquitto sends
	bare := serveTLS(t, leaf.TLS)  // the leaf alone
	// A server certificate with no subjectAltName, like Mosquitto's test
	// server.crt: libmosquitto matches its Common Name.
	cnOnly := serveTLS(t, root.Issue("localhost", func(c *x509.Certificate) { c.DNSNames, c.IPAddresses = nil, nil }).TLS)
	self, selfFile := selfSignedLeaf(t)
	selfAddr := serveTLS(t, self)
	capath := t.TempDir()
	for _, f := range []string{root.File, inter.File} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(capath, filepath.Base(f)), b, 0o600)
	}
	os.Mkdir(filepath.Join(capath, "sub"), 0o700)

	tests := []struct {
		name, addr, host string
		cfg              Config
		ok               bool
	}{
		{"root", full, "localhost", Config{CAFile: root.File}, true},
		{"root and intermediate", full, "localhost", Config{CAFile: concat(t, inter.File, root.File)}, true},
		// The intermediate comes from the CA file when the server sends
		// only its leaf: OpenSSL builds the chain from the store.
		{"root and intermediate, bare leaf", bare, "localhost", Config{CAFile: concat(t, inter.File, root.File)}, true},
		{"root only, bare leaf", bare, "localhost", Config{CAFile: root.File}, false},
		{"capath", bare, "localhost", Config{CAPath: capath}, true},
		{"the server's leaf", full, "localhost", Config{CAFile: leaf.CertFile}, false},
		{"the server's leaf, bare", bare, "localhost", Config{CAFile: leaf.CertFile}, false},
		{"the server's leaf, --insecure", full, "localhost", Config{CAFile: leaf.CertFile, Insecure: true}, false},
		{"the intermediate", full, "localhost", Config{CAFile: inter.File}, false},
		{"the intermediate, --insecure", full, "localhost", Config{CAFile: inter.File, Insecure: true}, false},
		{"another root", full, "localhost", Config{CAFile: testpki.NewCA(t, "other").File}, false},
		{"self-signed leaf", selfAddr, "localhost", Config{CAFile: selfFile}, true},
		{"wrong host name", full, "127.0.0.2", Config{CAFile: root.File}, false},
		{"wrong host name, --insecure", full, "127.0.0.2", Config{CAFile: root.File, Insecure: true}, true},
		{"common name, no subjectAltName", cnOnly, "localhost", Config{CAFile: root.File}, true},
		{"common name, other host", cnOnly, "127.0.0.1", Config{CAFile: root.File}, false},
		{"common name, other host, --insecure", cnOnly, "127.0.0.1", Config{CAFile: root.File, Insecure: true}, true},
		{"common name, another root", cnOnly, "localhost", Config{CAFile: testpki.NewCA(t, "other").File}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Host = tc.host
			cfg, err := c.tlsConfig()
			if err != nil {
				t.Fatal(err)
			}
			d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
			conn, err := d.Dial("tcp", tc.addr)
			if err == nil {
				conn.Close()
			}
			if ok := err == nil; ok != tc.ok {
				t.Fatalf("handshake err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if msg, code, _ := tlsFailure(err); msg != "Error: A TLS error occurred.\n" || code != 8 {
					t.Errorf("reported as %q, exit %d; want mosquitto_pub's TLS error, exit 8", msg, code)
				}
			}
		})
	}
}
