package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
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
func newDropinPKI(t *testing.T, dir string, clientCNs map[string]string) *dropinPKI {
	t.Helper()
	caKey := newECKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "midge drop-in test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &dropinPKI{caFile: filepath.Join(dir, "ca.pem"), clients: map[string][2]string{}}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	serial := int64(2)
	issue := func(name string, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) [2]string {
		key := newECKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		serial++
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		files := [2]string{filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")}
		writePEM(t, files[0], "CERTIFICATE", der)
		writePEM(t, files[1], "PRIVATE KEY", keyDER)
		return files
	}
	server := issue("server", pkix.Name{CommonName: "localhost"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	p.serverCert, p.serverKey = server[0], server[1]
	for name, cn := range clientCNs {
		subject := pkix.Name{CommonName: cn}
		if cn == "" {
			// Still a distinguishable subject, just without a CN.
			subject = pkix.Name{Organization: []string{"midge"}, OrganizationalUnit: []string{name}}
		}
		p.clients[name] = issue("client-"+name, subject, x509.ExtKeyUsageClientAuth, nil, nil)
	}
	return p
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writePEM writes world-readable files: Mosquitto, started as root, may
// read them after dropping privileges.
func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
