package clientflags

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/midge-mqtt/midge/internal/ascii"
)

// oidCommonName is the X.520 commonName attribute type.
var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// errHostMismatch is what checkHostname returns, wrapped with the names.
var errHostMismatch = errors.New("host name verification failed")

// checkHostname checks host (the -h or URL host, as typed) against the
// server's certificate the way libmosquitto 2.0.11 does it. That is not
// OpenSSL's X509_check_host but libmosquitto's own
// mosquitto__verify_certificate_hostname (lib/tls_mosq.c), and not Go's
// VerifyHostname either, which never looks at the Common Name:
//
//   - every subjectAltName is tried: a DNS name with dnsNameMatches (also
//     when host is an IP address, so DNS:127.0.0.1 matches -h 127.0.0.1),
//     an IP address when host parses as an address of the same length;
//   - the Common Name is tried only when the certificate has no DNS
//     subjectAltName: IP, email or URI names alone do not disable it,
//     whether host is a name or an address;
//   - only the first Common Name of the subject counts, compared as its raw
//     bytes (a BMPString name never matches a host).
//
// Checked with mosquitto_pub 2.0.11 against certificates made with
// openssl: CN=localhost without SAN is accepted for -h localhost and
// refused for -h 127.0.0.1; CN=localhost with DNS:other.example is refused;
// CN=localhost with only IP:10.0.0.1 is accepted; CN=127.0.0.1 is accepted
// for -h 127.0.0.1; /CN=localhost/CN=x is accepted and /CN=x/CN=localhost
// refused.
//
// One deliberate difference: libmosquitto compares names as C strings, so
// a name with a NUL byte ("localhost\x00.evil.example") matches up to the
// NUL; here such a name never matches.
func checkHostname(cert *x509.Certificate, host string) error {
	addr, err := netip.ParseAddr(host)
	isAddr := err == nil && addr.Zone() == "" // inet_pton takes no zone
	for _, name := range cert.DNSNames {
		if dnsNameMatches(name, host) {
			return nil
		}
	}
	if isAddr {
		for _, ip := range cert.IPAddresses {
			// crypto/x509 keeps the encoded length: 4 or 16 bytes. An
			// IPv4 host never matches an IPv4-mapped IPv6 entry.
			switch {
			case len(ip) == 4 && addr.Is4() && netip.AddrFrom4([4]byte(ip)) == addr,
				len(ip) == 16 && addr.Is6() && netip.AddrFrom16([16]byte(ip)) == addr:
				return nil
			}
		}
	}
	if len(cert.DNSNames) > 0 {
		return fmt.Errorf("%w: %q is none of the certificate's DNS names %q", errHostMismatch, host, cert.DNSNames)
	}
	cn, ok := firstCommonName(cert)
	if ok && dnsNameMatches(cn, host) {
		return nil
	}
	return fmt.Errorf("%w: %q does not match the certificate's common name %q", errHostMismatch, host, cn)
}

// dnsNameMatches is libmosquitto's mosquitto__cmp_hostname_wildcard: an
// ASCII case-insensitive comparison, where a name starting with "*." is
// compared with what follows the first dot of host. Its quirks are kept,
// as they decide which servers mosquitto_pub accepts: "*.com" matches
// "example.com", "*.0.0.1" matches "127.0.0.1", and "*.localhost" matches
// "localhost" itself, because a host without a dot (before its last
// character) is compared whole. A "*" anywhere else, or not followed by a
// dot, is an ordinary character.
func dnsNameMatches(name, host string) bool {
	if strings.IndexByte(name, 0) >= 0 || host == "" {
		return false
	}
	if strings.HasPrefix(name, "*") {
		if !strings.HasPrefix(name, "*.") {
			return false
		}
		name = name[2:]
		if i := strings.IndexByte(host[:len(host)-1], '.'); i >= 0 {
			host = host[i+1:]
		}
	}
	return ascii.EqualFold(name, host)
}

// firstCommonName returns the raw value of the first commonName attribute
// of the subject, as OpenSSL's X509_NAME_get_text_by_NID hands it to
// libmosquitto: the encoded bytes, whatever the string type.
// crypto/x509's Subject.CommonName is the last one, decoded to UTF-8.
func firstCommonName(cert *x509.Certificate) (string, bool) {
	var rdns []relativeNameSET
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) != 0 {
		return "", false
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(oidCommonName) {
				return string(atv.Value.Bytes), len(atv.Value.Bytes) > 0
			}
		}
	}
	return "", false
}

// attributeTypeAndValue keeps the value's raw encoding (see firstCommonName).
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// relativeNameSET is a SET OF: encoding/asn1 treats a slice type whose
// name ends in "SET" as a SET.
type relativeNameSET []attributeTypeAndValue
