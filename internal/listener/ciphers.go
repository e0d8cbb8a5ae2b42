package listener

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// suite is one TLS 1.0-1.2 cipher suite Go implements, with the attributes
// OpenSSL's cipher-list keywords select on.
type suite struct {
	id       uint16
	openssl  string // OpenSSL's name, e.g. ECDHE-RSA-AES128-GCM-SHA256
	kx, auth string // "RSA" or "ECDHE"; "RSA" or "ECDSA"
	enc      string // AES128, AES256, AESGCM128, AESGCM256, CHACHA20, 3DES, RC4
	mac      string // SHA1, SHA256 or AEAD
	insecure bool   // listed by tls.InsecureCipherSuites
}

// goSuites lists Go's TLS <= 1.2 suites under their OpenSSL names. The
// table is built per call (it is small) so the package holds no state.
func goSuites() []suite {
	s := []suite{
		{tls.TLS_RSA_WITH_RC4_128_SHA, "RC4-SHA", "RSA", "RSA", "RC4", "SHA1", false},
		{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", "RSA", "RSA", "3DES", "SHA1", false},
		{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", "RSA", "RSA", "AES128", "SHA1", false},
		{tls.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", "RSA", "RSA", "AES256", "SHA1", false},
		{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", "RSA", "RSA", "AES128", "SHA256", false},
		{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", "RSA", "RSA", "AESGCM128", "AEAD", false},
		{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", "RSA", "RSA", "AESGCM256", "AEAD", false},
		{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, "ECDHE-ECDSA-RC4-SHA", "ECDHE", "ECDSA", "RC4", "SHA1", false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", "ECDHE", "ECDSA", "AES128", "SHA1", false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", "ECDHE", "ECDSA", "AES256", "SHA1", false},
		{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, "ECDHE-RSA-RC4-SHA", "ECDHE", "RSA", "RC4", "SHA1", false},
		{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ECDHE-RSA-DES-CBC3-SHA", "ECDHE", "RSA", "3DES", "SHA1", false},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", "ECDHE", "RSA", "AES128", "SHA1", false},
		{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", "ECDHE", "RSA", "AES256", "SHA1", false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", "ECDHE", "ECDSA", "AES128", "SHA256", false},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", "ECDHE", "RSA", "AES128", "SHA256", false},
		{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE", "RSA", "AESGCM128", "AEAD", false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE", "ECDSA", "AESGCM128", "AEAD", false},
		{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE", "RSA", "AESGCM256", "AEAD", false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE", "ECDSA", "AESGCM256", "AEAD", false},
		{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE", "RSA", "CHACHA20", "AEAD", false},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE", "ECDSA", "CHACHA20", "AEAD", false},
	}
	for i := range s {
		for _, in := range tls.InsecureCipherSuites() {
			if in.ID == s[i].id {
				s[i].insecure = true
			}
		}
	}
	return s
}

// keywordMatch returns the selector for one OpenSSL cipher-list keyword.
// Keywords that only select what Go does not implement (DHE, PSK, CAMELLIA,
// NULL ciphers, ...) select nothing, so "!aNULL:!PSK" works as in OpenSSL.
// The broad keywords (ALL, DEFAULT, HIGH) never select a suite Go calls
// insecure: those are used only when named, or by RC4, 3DES or MEDIUM.
func keywordMatch(kw string) (func(suite) bool, bool) {
	none := func(suite) bool { return false }
	switch kw {
	case "ALL", "DEFAULT", "HIGH":
		return func(s suite) bool { return !s.insecure }, true
	case "MEDIUM":
		return func(s suite) bool { return s.enc == "3DES" || s.enc == "RC4" }, true
	case "COMPLEMENTOFDEFAULT", "COMPLEMENTOFALL", "LOW", "EXPORT", "EXP", "eNULL", "NULL", "aNULL",
		"ADH", "AECDH", "PSK", "kPSK", "aPSK", "kRSAPSK", "kECDHEPSK", "kDHEPSK", "SRP", "kSRP", "aSRP",
		"DSS", "aDSS", "DHE", "EDH", "kDHE", "kEDH", "DH", "kDH", "CAMELLIA", "CAMELLIA128", "CAMELLIA256",
		"ARIA", "ARIA128", "ARIA256", "ARIAGCM", "AESCCM", "AESCCM8", "CCM", "CCM8", "SEED", "IDEA", "MD5",
		"RC2", "DES", "GOST", "aGOST", "kGOST", "GOST94", "GOST89MAC", "SUITEB128", "SUITEB128ONLY",
		"SUITEB192", "aNULLkECDHE", "kECDH", "aECDH", "TLSv1.3":
		return none, true
	case "kRSA", "RSA":
		return func(s suite) bool { return s.kx == "RSA" }, true
	case "aRSA":
		return func(s suite) bool { return s.auth == "RSA" }, true
	case "kECDHE", "kEECDH", "ECDHE", "EECDH", "ECDH":
		return func(s suite) bool { return s.kx == "ECDHE" }, true
	case "aECDSA", "ECDSA":
		return func(s suite) bool { return s.auth == "ECDSA" }, true
	case "AES":
		return func(s suite) bool { return strings.HasPrefix(s.enc, "AES") }, true
	case "AES128":
		return func(s suite) bool { return s.enc == "AES128" || s.enc == "AESGCM128" }, true
	case "AES256":
		return func(s suite) bool { return s.enc == "AES256" || s.enc == "AESGCM256" }, true
	case "AESGCM":
		return func(s suite) bool { return strings.HasPrefix(s.enc, "AESGCM") }, true
	case "CHACHA20":
		return func(s suite) bool { return s.enc == "CHACHA20" }, true
	case "3DES":
		return func(s suite) bool { return s.enc == "3DES" }, true
	case "RC4":
		return func(s suite) bool { return s.enc == "RC4" }, true
	case "SHA1", "SHA":
		return func(s suite) bool { return s.mac == "SHA1" }, true
	case "SHA256":
		return func(s suite) bool { return s.mac == "SHA256" }, true
	case "SHA384":
		return none, true
	case "AEAD":
		return func(s suite) bool { return s.mac == "AEAD" }, true
	case "TLSv1.2":
		return func(s suite) bool { return s.mac != "SHA1" }, true
	case "TLSv1", "TLSv1.0", "SSLv3":
		return func(s suite) bool { return s.mac == "SHA1" }, true
	}
	return nil, false
}

// isOpenSSLOnlyCipher reports whether name looks like a cipher OpenSSL
// knows but Go does not implement (DHE, PSK, CAMELLIA, CBC with SHA384,
// ...): every dash-separated part is a word OpenSSL builds cipher names
// from. Such a name is skipped with a warning, as OpenSSL itself skips names
// it cannot use; anything else is a typo and refused.
func isOpenSSLOnlyCipher(name string) bool {
	for _, tok := range strings.Split(name, "-") {
		switch tok {
		case "ECDHE", "ECDH", "DHE", "EDH", "DH", "ADH", "AECDH", "RSA", "ECDSA", "DSS", "PSK", "RSAPSK",
			"DHEPSK", "ECDHEPSK", "SRP", "AES", "AES128", "AES256", "CAMELLIA128", "CAMELLIA256", "ARIA128",
			"ARIA256", "CHACHA20", "POLY1305", "GCM", "CCM", "CCM8", "SHA", "SHA256", "SHA384", "MD5", "DES",
			"CBC", "CBC3", "RC4", "RC2", "SEED", "IDEA", "NULL", "EXP", "EXP1024", "GOST2001", "GOST2012",
			"GOST94", "GOST89", "KRB5", "3DES", "EDE":
		default:
			return false
		}
	}
	return true
}

// parseCiphers turns an OpenSSL cipher list (Mosquitto's `ciphers`, which
// applies to TLS 1.2 and below) into Go cipher suite IDs.
//
// It understands what mosquitto.conf files use: exact OpenSSL names
// ("ECDHE-RSA-AES128-GCM-SHA256"), keywords joined by "+" ("ECDHE+AESGCM"),
// and the "!" (remove for good), "-" (remove) and "+" (reorder) prefixes.
// Ordering is ignored because Go orders suites itself; "@STRENGTH" and
// "@SECLEVEL=n" are accepted and ignored. A name nobody knows is an error
// naming it, because a typo would otherwise change the offered suites
// silently. Names OpenSSL knows that Go lacks are skipped with a warning.
// A list that selects nothing Go supports is an error.
func parseCiphers(list string) ([]uint16, []string, error) {
	all := goSuites()
	var (
		warnings []string
		selected []uint16
		banned   []uint16
	)
	terms := strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' || r == ';' })
	for _, term := range terms {
		op := byte(0)
		if term[0] == '!' || term[0] == '-' || term[0] == '+' {
			op, term = term[0], term[1:]
		}
		if strings.HasPrefix(term, "@") || term == "" {
			continue
		}
		match, err := termMatch(all, term)
		if err != nil {
			return nil, nil, err
		}
		if match == nil {
			warnings = append(warnings, fmt.Sprintf("ciphers: %s is not available in Go's TLS; ignored", term))
			continue
		}
		for _, s := range all {
			if !match(s) {
				continue
			}
			switch op {
			case 0:
				if !slices.Contains(selected, s.id) && !slices.Contains(banned, s.id) {
					selected = append(selected, s.id)
				}
			case '!':
				banned = append(banned, s.id)
				fallthrough
			case '-':
				selected = slices.DeleteFunc(selected, func(id uint16) bool { return id == s.id })
			}
		}
	}
	if len(selected) == 0 {
		return nil, warnings, fmt.Errorf("ciphers %q selects no cipher suite that Go supports", list)
	}
	for _, s := range all {
		if s.insecure && slices.Contains(selected, s.id) {
			warnings = append(warnings, fmt.Sprintf("ciphers: %s is insecure", s.openssl))
		}
	}
	return selected, warnings, nil
}

// termMatch resolves one cipher-list term. It returns nil, nil for a cipher
// OpenSSL knows and Go does not.
func termMatch(all []suite, term string) (func(suite) bool, error) {
	for _, s := range all {
		if s.openssl == term {
			id := s.id
			return func(s suite) bool { return s.id == id }, nil
		}
	}
	var parts []func(suite) bool
	for _, kw := range strings.Split(term, "+") {
		m, ok := keywordMatch(kw)
		if !ok {
			if isOpenSSLOnlyCipher(term) {
				return nil, nil
			}
			return nil, fmt.Errorf("ciphers: unknown cipher %q", term)
		}
		parts = append(parts, m)
	}
	return func(s suite) bool {
		for _, m := range parts {
			if !m(s) {
				return false
			}
		}
		return true
	}, nil
}

// checkCiphers13 validates ciphers_tls1.3. Go always enables its three
// TLS 1.3 suites and cannot restrict them, so a valid list is accepted with
// a warning; an unknown name is an error so a typo is not mistaken for a
// restriction that works.
func checkCiphers13(list string) (string, error) {
	if list == "" {
		return "", nil
	}
	for _, name := range strings.Split(list, ":") {
		switch name {
		case "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
			"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256":
		default:
			return "", fmt.Errorf("ciphers_tls1.3: unknown cipher %q", name)
		}
	}
	return "ciphers_tls1.3 is ignored: Go always offers TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 for TLS 1.3", nil
}
