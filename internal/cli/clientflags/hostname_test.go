package clientflags

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"testing"
)

// subject encodes an RDN sequence with one attribute per RDN, each value
// given as its ASN.1 encoding so that the string type is chosen here.
func subject(t *testing.T, values ...asn1.RawValue) []byte {
	t.Helper()
	var rdns pkix.RDNSequence
	for _, v := range values {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidCommonName, Value: v}})
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func utf8CN(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
}

func bmpCN(s string) asn1.RawValue {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: 30, Bytes: b}
}

// TestCheckHostname pins libmosquitto 2.0.11's host name rules
// (mosquitto__verify_certificate_hostname). The cases marked "seen" were
// run through mosquitto_pub with certificates made by openssl; the
// side-by-side test in internal/cli/sub repeats most of them against the
// real tool.
func TestCheckHostname(t *testing.T) {
	cn := func(names ...string) []byte {
		var vs []asn1.RawValue
		for _, n := range names {
			vs = append(vs, utf8CN(n))
		}
		return subject(t, vs...)
	}
	ip := net.ParseIP
	tests := []struct {
		name string
		cert x509.Certificate
		host string
		ok   bool
	}{
		// seen: Mosquitto's test server.crt has CN=localhost and no SAN.
		{"CN only", x509.Certificate{RawSubject: cn("localhost")}, "localhost", true},
		{"CN only, other host", x509.Certificate{RawSubject: cn("localhost")}, "127.0.0.1", false},
		{"CN case", x509.Certificate{RawSubject: cn("LOCALHOST")}, "localhost", true},
		{"CN for an address", x509.Certificate{RawSubject: cn("127.0.0.1")}, "127.0.0.1", true},
		{"CN for an IPv6 address", x509.Certificate{RawSubject: cn("::1")}, "::1", true},
		// seen: a DNS subjectAltName turns the Common Name off...
		{"DNS SAN, CN would match", x509.Certificate{RawSubject: cn("localhost"), DNSNames: []string{"other.example"}}, "localhost", false},
		{"DNS SAN matches", x509.Certificate{RawSubject: cn("x"), DNSNames: []string{"other.example", "LocalHost"}}, "localhost", true},
		{"DNS SAN, address host", x509.Certificate{RawSubject: cn("127.0.0.1"), DNSNames: []string{"other.example"}}, "127.0.0.1", false},
		{"DNS SAN holding an address", x509.Certificate{RawSubject: cn("x"), DNSNames: []string{"127.0.0.1"}}, "127.0.0.1", true},
		// ...an IP or email subjectAltName does not.
		{"IP SAN only, name host", x509.Certificate{RawSubject: cn("localhost"), IPAddresses: []net.IP{ip("10.0.0.1").To4()}}, "localhost", true},
		{"IP SAN only, address host", x509.Certificate{RawSubject: cn("127.0.0.1"), IPAddresses: []net.IP{ip("10.0.0.1").To4()}}, "127.0.0.1", true},
		{"email SAN only", x509.Certificate{RawSubject: cn("localhost"), EmailAddresses: []string{"a@b.example"}}, "localhost", true},
		{"IP SAN matches", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("127.0.0.1").To4()}}, "127.0.0.1", true},
		{"IP SAN, name host", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("127.0.0.1").To4()}}, "localhost", false},
		{"IPv6 SAN", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("::1")}}, "::1", true},
		{"IPv6 SAN, spelt differently", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("::1")}}, "0:0::1", true},
		// inet_pton(AF_INET) and the 16-byte entry never meet.
		{"IPv4-mapped SAN, IPv4 host", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("127.0.0.1").To16()}}, "127.0.0.1", false},
		{"IPv4-mapped SAN, mapped host", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("127.0.0.1").To16()}}, "::ffff:127.0.0.1", true},
		{"zone is no address", x509.Certificate{RawSubject: cn("x"), IPAddresses: []net.IP{ip("fe80::1")}}, "fe80::1%lo", false},
		// seen: only the first Common Name counts.
		{"first CN", x509.Certificate{RawSubject: cn("localhost", "x")}, "localhost", true},
		{"second CN", x509.Certificate{RawSubject: cn("x", "localhost")}, "localhost", false},
		// The raw bytes of a BMPString start with a NUL.
		{"BMPString CN", x509.Certificate{RawSubject: subject(t, bmpCN("localhost"))}, "localhost", false},
		{"no CN", x509.Certificate{RawSubject: subject(t)}, "localhost", false},
		// Wildcards, with libmosquitto's quirks (seen).
		{"wildcard CN", x509.Certificate{RawSubject: cn("*.example.com")}, "broker.example.com", true},
		{"wildcard SAN", x509.Certificate{DNSNames: []string{"*.example.com"}}, "broker.example.com", true},
		{"wildcard, one label only", x509.Certificate{RawSubject: cn("*.example.com")}, "a.broker.example.com", false},
		{"wildcard, bare domain", x509.Certificate{RawSubject: cn("*.example.com")}, "example.com", false},
		{"wildcard over a dotless host", x509.Certificate{RawSubject: cn("*.localhost")}, "localhost", true},
		{"wildcard, top-level domain", x509.Certificate{RawSubject: cn("*.com")}, "example.com", true},
		{"wildcard over an address", x509.Certificate{RawSubject: cn("*.0.0.1")}, "127.0.0.1", true},
		{"wildcard over an address, no", x509.Certificate{RawSubject: cn("*.0.1")}, "127.0.0.1", false},
		{"lone star", x509.Certificate{RawSubject: cn("*")}, "localhost", false},
		{"star inside a label", x509.Certificate{RawSubject: cn("local*")}, "localhost", false},
		{"star not first", x509.Certificate{RawSubject: cn("a.*.example")}, "a.b.example", false},
		// Deliberately stricter than libmosquitto, which stops at the NUL.
		{"NUL in CN", x509.Certificate{RawSubject: cn("localhost\x00.evil.example")}, "localhost", false},
		{"NUL in SAN", x509.Certificate{DNSNames: []string{"localhost\x00.evil.example"}}, "localhost", false},
		// strcasecmp folds ASCII only: U+212A KELVIN SIGN is not k.
		{"ASCII folding only", x509.Certificate{RawSubject: cn("\u212aey")}, "key", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostname(&tc.cert, tc.host)
			if ok := err == nil; ok != tc.ok {
				t.Fatalf("checkHostname(%q) = %v, want ok=%v", tc.host, err, tc.ok)
			}
			if err != nil && !errors.Is(err, errHostMismatch) {
				t.Errorf("error %v does not wrap errHostMismatch", err)
			}
		})
	}
}
