package listener

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// CertUsername returns the username Mosquitto derives from a client
// certificate: with subject false the first CommonName of the subject
// (use_identity_as_username), with subject true the whole subject formatted
// as OpenSSL's X509_NAME_print_ex(..., XN_FLAG_RFC2253) prints it
// (use_subject_as_username), e.g. "CN=client,O=Org,C=GB".
//
// ok is false when the connection has no verified client certificate, when
// the certificate has no CommonName, or when the CommonName holds a NUL byte
// (Mosquitto refuses those as a bad username).
func CertUsername(cs tls.ConnectionState, subject bool) (string, bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := cs.VerifiedChains[0][0]
	if subject {
		s, err := SubjectRFC2253(leaf)
		return s, err == nil
	}
	return commonName(leaf)
}

// commonName returns the first CN attribute, as Mosquitto takes the first
// entry X509_NAME_get_index_by_NID finds.
func commonName(cert *x509.Certificate) (string, bool) {
	rdns, err := parseName(cert.RawSubject)
	if err != nil {
		return "", false
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}) { // CN
				s, ok := decodeString(atv.Value)
				if !ok || strings.IndexByte(s, 0) >= 0 {
					return "", false
				}
				return s, true
			}
		}
	}
	return "", false
}

// attributeTypeAndValue keeps the value's raw ASN.1 so that its string type
// (UTF8String, BMPString, ...) decides how it is printed, as in OpenSSL.
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// relativeNameSET is a SET OF; encoding/asn1 treats a slice type whose
// name ends in "SET" as a SET.
type relativeNameSET []attributeTypeAndValue

func parseName(raw []byte) ([]relativeNameSET, error) {
	var rdns []relativeNameSET
	rest, err := asn1.Unmarshal(raw, &rdns)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, asn1.SyntaxError{Msg: "trailing data after subject"}
	}
	return rdns, nil
}

// SubjectRFC2253 formats cert's subject the way OpenSSL's
// X509_NAME_print_ex with XN_FLAG_RFC2253 does, which is what Mosquitto 2.0
// uses for use_subject_as_username:
//   - attributes in reverse order of the encoding (the last RDN first; the
//     members of a multi-valued RDN are reversed too), RDNs separated by ","
//     and members of one RDN by "+", no spaces;
//   - OpenSSL's short names (CN, O, OU, C, ST, L, emailAddress, DC, ...),
//     an unknown attribute as its dotted OID with the value as "#" and the
//     hex of its DER encoding;
//   - values converted to UTF-8; `, + " \ < > ;` escaped with a backslash,
//     "#" only at the start and a space only at the start or end; control
//     characters and every byte >= 0x80 as "\XX" (upper-case hex), so
//     "é" prints as "\C3\A9";
//   - a value of a type that is not a string is dumped as "#" + DER hex.
func SubjectRFC2253(cert *x509.Certificate) (string, error) {
	rdns, err := parseName(cert.RawSubject)
	if err != nil {
		return "", err
	}
	type entry struct {
		atv attributeTypeAndValue
		set int
	}
	var entries []entry
	for i, rdn := range rdns {
		for _, atv := range rdn {
			entries = append(entries, entry{atv, i})
		}
	}
	var b strings.Builder
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if i != len(entries)-1 {
			if entries[i+1].set == e.set {
				b.WriteByte('+')
			} else {
				b.WriteByte(',')
			}
		}
		name, known := attributeShortName(e.atv.Type)
		b.WriteString(name)
		b.WriteByte('=')
		if !known {
			dumpDER(&b, e.atv.Value)
			continue
		}
		s, ok := decodeString(e.atv.Value)
		if !ok {
			dumpDER(&b, e.atv.Value)
			continue
		}
		escapeRFC2253(&b, s)
	}
	return b.String(), nil
}

func dumpDER(b *strings.Builder, v asn1.RawValue) {
	b.WriteByte('#')
	b.WriteString(strings.ToUpper(hex.EncodeToString(v.FullBytes)))
}

// ASN.1 universal string tags.
const (
	tagUTF8String      = 12
	tagNumericString   = 18
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagUTCTime         = 23
	tagGeneralizedTime = 24
	tagVisibleString   = 26
	tagUniversalString = 28
	tagBMPString       = 30
)

// decodeString returns a string attribute value as UTF-8. One-byte types
// (T61String included) are taken as Latin-1, as OpenSSL does. ok is false
// for types OpenSSL dumps as DER instead of printing.
func decodeString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case tagUTF8String:
		if !utf8.Valid(v.Bytes) {
			return "", false
		}
		return string(v.Bytes), true
	case tagNumericString, tagPrintableString, tagT61String, tagIA5String,
		tagUTCTime, tagGeneralizedTime, tagVisibleString:
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case tagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case tagUniversalString:
		if len(v.Bytes)%4 != 0 {
			return "", false
		}
		r := make([]rune, len(v.Bytes)/4)
		for i := range r {
			p := v.Bytes[4*i:]
			r[i] = rune(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))
		}
		return string(r), true
	}
	return "", false
}

// escapeRFC2253 applies OpenSSL's ASN1_STRFLGS_RFC2253 escaping to a UTF-8
// value (see SubjectRFC2253).
func escapeRFC2253(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		first, last := i == 0, i == len(s)-1
		switch {
		case c >= 0x80 || c < 0x20 || c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case strings.IndexByte(`,+"\<>;`, c) >= 0,
			c == '#' && first,
			c == ' ' && (first || last):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}

// attributeShortName returns OpenSSL's short name (OBJ_nid2sn) for the
// attribute types that appear in certificate subjects, or the dotted OID
// and false.
func attributeShortName(oid asn1.ObjectIdentifier) (string, bool) {
	s := oid.String()
	switch s {
	case "2.5.4.3":
		return "CN", true
	case "2.5.4.4":
		return "SN", true
	case "2.5.4.5":
		return "serialNumber", true
	case "2.5.4.6":
		return "C", true
	case "2.5.4.7":
		return "L", true
	case "2.5.4.8":
		return "ST", true
	case "2.5.4.9":
		return "street", true
	case "2.5.4.10":
		return "O", true
	case "2.5.4.11":
		return "OU", true
	case "2.5.4.12":
		return "title", true
	case "2.5.4.13":
		return "description", true
	case "2.5.4.15":
		return "businessCategory", true
	case "2.5.4.16":
		return "postalAddress", true
	case "2.5.4.17":
		return "postalCode", true
	case "2.5.4.18":
		return "postOfficeBox", true
	case "2.5.4.41":
		return "name", true
	case "2.5.4.42":
		return "GN", true
	case "2.5.4.43":
		return "initials", true
	case "2.5.4.44":
		return "generationQualifier", true
	case "2.5.4.45":
		return "x500UniqueIdentifier", true
	case "2.5.4.46":
		return "dnQualifier", true
	case "2.5.4.65":
		return "pseudonym", true
	case "2.5.4.72":
		return "role", true
	case "2.5.4.97":
		return "organizationIdentifier", true
	case "1.2.840.113549.1.9.1":
		return "emailAddress", true
	case "1.2.840.113549.1.9.2":
		return "unstructuredName", true
	case "1.2.840.113549.1.9.8":
		return "unstructuredAddress", true
	case "0.9.2342.19200300.100.1.1":
		return "UID", true
	case "0.9.2342.19200300.100.1.25":
		return "DC", true
	case "1.3.6.1.4.1.311.60.2.1.1":
		return "jurisdictionL", true
	case "1.3.6.1.4.1.311.60.2.1.2":
		return "jurisdictionST", true
	case "1.3.6.1.4.1.311.60.2.1.3":
		return "jurisdictionC", true
	}
	return s, false
}
