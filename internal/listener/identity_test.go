package listener

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os/exec"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/internal/testpki"
)

// rawName builds a subject with each inner slice one RDN, values as
// UTF8String unless given as asn1.RawValue.
func rawName(t *testing.T, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, r := range rdns {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(r))
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func atv(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidL  = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidDC = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidEm = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

func utf8Value(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
}

func TestSubjectRFC2253(t *testing.T) {
	ca := testpki.NewCA(t, "names")
	bmp := asn1.RawValue{Class: asn1.ClassUniversal, Tag: 30, Bytes: []byte{0, 'B', 0, 0xe9}}
	tests := []struct {
		name    string
		subject []byte
		want    string
		cn      string
		cnOK    bool
	}{
		{
			name:    "plain order reversed",
			subject: rawName(t, atv(oidC, "GB"), atv(oidO, "Org"), atv(oidCN, "client")),
			want:    "CN=client,O=Org,C=GB", cn: "client", cnOK: true,
		},
		{
			name: "multi-valued RDN",
			subject: rawName(t, atv(oidC, "GB"),
				[]pkix.AttributeTypeAndValue{{Type: oidO, Value: "Org"}, {Type: oidOU, Value: "Unit"}},
				atv(oidCN, "c1")),
			want: "CN=c1,OU=Unit+O=Org,C=GB", cn: "c1", cnOK: true,
		},
		{
			name: "escaped characters",
			subject: rawName(t, atv(oidO, utf8Value(`a,b+c"d\e<f>g;h=i`)),
				atv(oidOU, utf8Value("#hash # mid")), atv(oidCN, utf8Value(" lead and trail "))),
			want: `CN=\ lead and trail\ ,OU=\#hash # mid,O=a\,b\+c\"d\\e\<f\>g\;h=i`,
			cn:   " lead and trail ", cnOK: true,
		},
		{
			name:    "non-ASCII and control characters",
			subject: rawName(t, atv(oidL, utf8Value("Zürich\x01")), atv(oidO, bmp), atv(oidCN, utf8Value("名"))),
			want:    `CN=\E5\90\8D,O=B\C3\A9,L=Z\C3\BCrich\01`, cn: "名", cnOK: true,
		},
		{
			name:    "email, DC and unknown OID",
			subject: rawName(t, atv(oidDC, "example"), atv(oidEm, "a@b.c"), atv(asn1.ObjectIdentifier{1, 2, 3, 4}, "x")),
			want:    "1.2.3.4=#130178,emailAddress=a@b.c,DC=example",
		},
		{
			name:    "two CNs: identity is the first",
			subject: rawName(t, atv(oidCN, "first"), atv(oidCN, "second")),
			want:    "CN=second,CN=first", cn: "first", cnOK: true,
		},
		{
			name:    "NUL in CN is refused",
			subject: rawName(t, atv(oidCN, utf8Value("a\x00b"))),
			want:    `CN=a\00b`,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ca.Issue("c"+string(rune('a'+i)), func(x *x509.Certificate) { x.RawSubject = tc.subject })
			got, err := SubjectRFC2253(c.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SubjectRFC2253 = %q, want %q", got, tc.want)
			}
			if ossl := opensslSubject(t, c.CertFile); ossl != "" && ossl != got {
				t.Errorf("openssl prints %q, we print %q", ossl, got)
			}
			cs := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c.Cert}}}
			cn, ok := CertUsername(cs, false)
			if cn != tc.cn || ok != tc.cnOK {
				t.Errorf("CertUsername(identity) = %q, %v; want %q, %v", cn, ok, tc.cn, tc.cnOK)
			}
			if s, ok := CertUsername(cs, true); !ok || s != tc.want {
				t.Errorf("CertUsername(subject) = %q, %v", s, ok)
			}
		})
	}
}

func TestCertUsernameNoVerifiedCert(t *testing.T) {
	ca := testpki.NewCA(t, "nv")
	c := ca.Issue("x", nil)
	// PeerCertificates alone (not verified) must not give a username.
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}}
	for _, subject := range []bool{false, true} {
		if u, ok := CertUsername(cs, subject); ok {
			t.Errorf("CertUsername(subject=%v) = %q, true; want false", subject, u)
		}
	}
}

// opensslSubject prints the subject with `openssl x509 -nameopt RFC2253`,
// the same X509_NAME_print_ex flags Mosquitto uses; "" when openssl is not
// installed (it is a cross-check, the expected strings above stand alone).
func opensslSubject(t *testing.T, certFile string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		return ""
	}
	out, err := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-subject", "-nameopt", "RFC2253").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(out), "subject="), "\n")
}
