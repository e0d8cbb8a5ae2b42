package sub

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"testing"

	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/listener"
	"github.com/midge-mqtt/midge/internal/testpki"
)

// rawCNs encodes a subject of one commonName per RDN, in order, each as the
// given ASN.1 value.
func rawCNs(t *testing.T, values ...asn1.RawValue) []byte {
	t.Helper()
	var rdns pkix.RDNSequence
	for _, v := range values {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: v}})
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func utf8Value(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
}

// serverCert shapes a server certificate: its subject and subjectAltNames.
type serverCert struct {
	cn      string          // a single CN, or
	rawSubj []asn1.RawValue // several, each with its own encoding
	dns     []string
	ips     []net.IP
	emails  []string
}

func (s serverCert) issue(t *testing.T, ca *testpki.CA, name string) testpki.Issued {
	return ca.Issue(name, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: s.cn, Organization: []string{"midge test"}}
		if s.rawSubj != nil {
			c.RawSubject = rawCNs(t, s.rawSubj...)
		}
		c.DNSNames, c.IPAddresses, c.EmailAddresses = s.dns, s.ips, s.emails
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
}

// startMidgeServerOnly serves a midge broker with a TLS listener that
// presents cert and asks for no client certificate, and returns its port.
func startMidgeServerOnly(t *testing.T, cert testpki.Issued) string {
	t.Helper()
	h, _, err := listener.NewTLSHolder(&config.TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, TLSKeyform: "pem"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveMidge(t, tls.NewListener(ln, h.Config()), ln.Addr())
}

// TestTLSHostNameMatchesMosquitto connects with -h localhost or
// -h 127.0.0.1 to servers whose certificate names the host in different
// ways, with our tools and mosquitto's, and requires the same verdict:
// libmosquitto 2.0.11 falls back to the Common Name when the certificate
// has no DNS subjectAltName (Mosquitto's own test server.crt is such a
// certificate), with its own wildcard rules; Go's VerifyHostname never
// would. The rules themselves are in clientflags.checkHostname.
func TestTLSHostNameMatchesMosquitto(t *testing.T) {
	needTools(t, "mosquitto_pub", "mosquitto_sub")
	ca := testpki.NewCA(t, "midge host name CA")
	var (
		success  = outcome{0, "", ""}
		tlsError = outcome{8, "", "Error: A TLS error occurred.\n"}
		// mosquitto_pub only: the handshake failed inside mosquitto_connect.
		tlsUnable = outcome{1, "", "Unable to connect (A TLS error occurred.).\n"}
	)
	cases := []struct {
		name string
		cert serverCert
		host string
		ok   bool
		// mosquittoOK, when not nil, is where mosquitto's tools knowingly
		// disagree with us.
		mosquittoOK *bool
		insecure    bool
	}{
		{"CN only", serverCert{cn: "localhost"}, "localhost", true, nil, false},
		{"CN only, other host", serverCert{cn: "localhost"}, "127.0.0.1", false, nil, false},
		{"CN only, other host, --insecure", serverCert{cn: "localhost"}, "127.0.0.1", true, nil, true},
		{"CN upper case", serverCert{cn: "LOCALHOST"}, "localhost", true, nil, false},
		{"CN address", serverCert{cn: "127.0.0.1"}, "127.0.0.1", true, nil, false},
		{"CN address, name host", serverCert{cn: "127.0.0.1"}, "localhost", false, nil, false},
		{"DNS SAN with another CN", serverCert{cn: "localhost", dns: []string{"other.example"}}, "localhost", false, nil, false},
		{"DNS SAN with another CN, --insecure", serverCert{cn: "localhost", dns: []string{"other.example"}}, "localhost", true, nil, true},
		{"DNS SAN, CN elsewhere", serverCert{cn: "other.example", dns: []string{"localhost"}}, "localhost", true, nil, false},
		{"DNS SAN holding the address", serverCert{cn: "x", dns: []string{"127.0.0.1"}}, "127.0.0.1", true, nil, false},
		{"IP SAN only, CN for the name", serverCert{cn: "localhost", ips: []net.IP{net.IPv4(10, 0, 0, 1)}}, "localhost", true, nil, false},
		{"IP SAN only, CN for the address", serverCert{cn: "127.0.0.1", ips: []net.IP{net.IPv4(10, 0, 0, 1)}}, "127.0.0.1", true, nil, false},
		{"IP SAN matches", serverCert{cn: "x", ips: []net.IP{net.IPv4(127, 0, 0, 1)}}, "127.0.0.1", true, nil, false},
		{"IP SAN, name host", serverCert{cn: "x", ips: []net.IP{net.IPv4(127, 0, 0, 1)}}, "localhost", false, nil, false},
		{"email SAN only", serverCert{cn: "localhost", emails: []string{"a@b.example"}}, "localhost", true, nil, false},
		{"first CN matches", serverCert{rawSubj: []asn1.RawValue{utf8Value("localhost"), utf8Value("x")}}, "localhost", true, nil, false},
		{"second CN matches", serverCert{rawSubj: []asn1.RawValue{utf8Value("x"), utf8Value("localhost")}}, "localhost", false, nil, false},
		{"BMPString CN", serverCert{rawSubj: []asn1.RawValue{{Class: asn1.ClassUniversal, Tag: 30,
			Bytes: []byte("\x00l\x00o\x00c\x00a\x00l\x00h\x00o\x00s\x00t")}}}, "localhost", false, nil, false},
		{"wildcard CN over a dotless host", serverCert{cn: "*.localhost"}, "localhost", true, nil, false},
		{"wildcard CN over an address", serverCert{cn: "*.0.0.1"}, "127.0.0.1", true, nil, false},
		{"wildcard CN, two labels", serverCert{cn: "*.0.1"}, "127.0.0.1", false, nil, false},
		{"wildcard DNS SAN", serverCert{cn: "x", dns: []string{"*.localhost"}}, "localhost", true, nil, false},
		{"lone star CN", serverCert{cn: "*"}, "localhost", false, nil, false},
		{"star inside the CN", serverCert{cn: "local*"}, "localhost", false, nil, false},
		// libmosquitto compares the CN as a C string, up to the NUL; we
		// refuse the name instead of being fooled by it.
		{"NUL in CN", serverCert{rawSubj: []asn1.RawValue{utf8Value("localhost\x00.evil.example")}}, "localhost", false, ptr(true), false},
	}
	for i, tc := range cases {
		port := startMidgeServerOnly(t, tc.cert.issue(t, ca, "server"+string(rune('a'+i))))
		for _, tool := range []string{"pub", "sub"} {
			t.Run(tc.name+"/"+tool, func(t *testing.T) {
				args := []string{"-h", tc.host, "-p", port, "--cafile", ca.File, "-t", "tls/host"}
				if tc.insecure {
					args = append(args, "--insecure")
				}
				var want, got outcome
				if tool == "pub" {
					args = append(args, "-m", "x")
					want, got = runTool(t, "mosquitto_pub", args...), runPub(args...)
				} else {
					args = append(args, "-E")
					want, got = runTool(t, "mosquitto_sub", args...), runSub(args...)
				}
				verdict := func(o outcome) (ok, known bool) {
					switch o {
					case success:
						return true, true
					case tlsError, tlsUnable:
						return false, true
					}
					return false, false
				}
				if ok, known := verdict(got); !known || ok != tc.ok || got == tlsUnable {
					t.Errorf("midge %s: %v, want ok=%v", tool, got, tc.ok)
				}
				mosqWant := tc.ok
				if tc.mosquittoOK != nil {
					mosqWant = *tc.mosquittoOK
				}
				if ok, known := verdict(want); !known || ok != mosqWant {
					t.Errorf("mosquitto_%s: %v, want ok=%v", tool, want, mosqWant)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }
