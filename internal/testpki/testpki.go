// Package testpki makes certificate authorities, certificates and CRLs
// for tests, with their PEM files in the test's temporary directory. It is
// imported by tests only.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
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
)

// CA is a certificate authority made for one test.
type CA struct {
	t      testing.TB
	Dir    string // where its files are written
	Cert   *x509.Certificate
	key    crypto.Signer
	File   string // PEM of the CA certificate
	serial int64
}

// NewCA makes a CA named name with its files in a new temporary directory.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"midge test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &CA{t: t, Dir: dir, Cert: cert, key: key, serial: 1}
	ca.File = ca.Write(name+"-ca.pem", "CERTIFICATE", der)
	return ca
}

// Intermediate makes a CA named name that ca signs, with its files in a
// new temporary directory; its File holds only its own certificate.
func (ca *CA) Intermediate(name string) *CA {
	ca.t.Helper()
	ca.serial++
	key := NewKey(ca.t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"midge test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	sub := &CA{t: ca.t, Dir: ca.t.TempDir(), Cert: cert, key: key, serial: 1}
	sub.File = sub.Write(name+"-ca.pem", "CERTIFICATE", der)
	return sub
}

// NewKey makes a P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Write writes der as a PEM block of type typ to the file name in ca.Dir.
func (ca *CA) Write(name, typ string, der []byte) string {
	ca.t.Helper()
	p := filepath.Join(ca.Dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return p
}

// Issued is a certificate and its key, as files and as a tls.Certificate.
type Issued struct {
	Cert     *x509.Certificate
	CertFile string
	KeyFile  string
	TLS      tls.Certificate
}

// Issue signs a leaf certificate for localhost, 127.0.0.1 and ::1, usable
// by servers and clients, named name (its common name and file names);
// edit, when not nil, adjusts the template first.
func (ca *CA) Issue(name string, edit func(*x509.Certificate)) Issued {
	ca.t.Helper()
	ca.serial++
	key := NewKey(ca.t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return Issued{
		Cert:     cert,
		CertFile: ca.Write(name+".crt", "CERTIFICATE", der),
		KeyFile:  ca.Write(name+".key", "PRIVATE KEY", keyDER),
		TLS:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}
}

// SelfSigned makes a leaf certificate named name that signs itself and is
// not a CA (basicConstraints CA:FALSE), usable by servers and clients, with
// its files in a new temporary directory: the certificate a user makes with
// `openssl req -x509` for one broker or one client.
func SelfSigned(t testing.TB, name string) Issued {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	w := &CA{t: t, Dir: t.TempDir()} // only for Write
	return Issued{
		Cert:     cert,
		CertFile: w.Write(name+".crt", "CERTIFICATE", der),
		KeyFile:  w.Write(name+".key", "PRIVATE KEY", keyDER),
		TLS:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}
}

// CRL writes a CRL from this CA that revokes the given certificates.
func (ca *CA) CRL(name string, revoked ...*x509.Certificate) string {
	ca.t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(time.Now().UnixNano()),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour),
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return ca.Write(name, "X509 CRL", der)
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}
