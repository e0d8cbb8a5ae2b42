package listener

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func names(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tls.CipherSuiteName(id))
	}
	slices.Sort(out)
	return out
}

func TestParseCiphers(t *testing.T) {
	tests := []struct {
		list     string
		want     []string // Go names, sorted; nil = only check no error
		warning  string
		contains []string
		excludes []string
	}{
		{
			list: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
			want: []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
		},
		{
			list: "AES128-SHA DES-CBC3-SHA", // space separated; 3DES only when named
			want: []string{"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"}, warning: "DES-CBC3-SHA is insecure",
		},
		{
			list: "ECDHE+AESGCM",
			want: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
				"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
		},
		{
			list:     "HIGH:!aNULL:!MD5:!kRSA:@STRENGTH",
			contains: []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
			excludes: []string{"TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA"},
		},
		{
			list: "!SHA1:ALL:-AES128", // ! bans for good; - only removes what is selected
			excludes: []string{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
				"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			contains: []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
		},
		{
			list:    "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA384:PSK-AES128-CBC-SHA",
			want:    []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
			warning: "DHE-RSA-AES256-GCM-SHA384 is not available",
		},
	}
	for _, tc := range tests {
		t.Run(tc.list, func(t *testing.T) {
			ids, warnings, err := parseCiphers(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			got := names(ids)
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, c := range tc.contains {
				if !slices.Contains(got, c) {
					t.Errorf("%s missing from %v", c, got)
				}
			}
			for _, c := range tc.excludes {
				if slices.Contains(got, c) {
					t.Errorf("%s selected: %v", c, got)
				}
			}
			if tc.warning != "" && !strings.Contains(strings.Join(warnings, "\n"), tc.warning) {
				t.Errorf("warnings %q lack %q", warnings, tc.warning)
			}
		})
	}
}

func TestParseCiphersErrors(t *testing.T) {
	for list, want := range map[string]string{
		"ECDHE-RSA-AES128-GCM-SHA265": `unknown cipher "ECDHE-RSA-AES128-GCM-SHA265"`,
		"HIGH:BOGUS":                  `unknown cipher "BOGUS"`,
		"ECDHE+AESGMC":                `unknown cipher "ECDHE+AESGMC"`,
		"DHE-RSA-AES256-GCM-SHA384":   "selects no cipher suite",
		"HIGH:!HIGH":                  "selects no cipher suite",
	} {
		if _, _, err := parseCiphers(list); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseCiphers(%q) err = %v, want %q", list, err, want)
		}
	}
}

// Every OpenSSL name in the table maps to the suite of the same IANA name:
// OpenSSL's names drop TLS_, WITH_, CBC_ and the key exchange RSA, so
// rebuild them from Go's names.
func TestCipherTableNames(t *testing.T) {
	for _, s := range goSuites() {
		iana := tls.CipherSuiteName(s.id)
		n := strings.TrimPrefix(iana, "TLS_")
		n = strings.Replace(n, "_WITH_", "_", 1)
		n = strings.TrimPrefix(n, "RSA_")
		n = strings.Replace(n, "_CBC_", "_", 1)
		n = strings.Replace(n, "3DES_EDE", "DES_CBC3", 1)
		n = strings.Replace(n, "RC4_128", "RC4", 1)
		n = strings.Replace(n, "AES_128", "AES128", 1)
		n = strings.Replace(n, "AES_256", "AES256", 1)
		n = strings.Replace(n, "POLY1305_SHA256", "POLY1305", 1)
		n = strings.ReplaceAll(n, "_", "-")
		if n != s.openssl {
			t.Errorf("%s: table says %s, derived %s", iana, s.openssl, n)
		}
	}
}

func TestCiphers13(t *testing.T) {
	if w, err := checkCiphers13("TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"); err != nil || w == "" {
		t.Errorf("valid list: %q, %v", w, err)
	}
	if _, err := checkCiphers13("TLS_AES_512_GCM"); err == nil {
		t.Error("unknown TLS 1.3 cipher accepted")
	}
}
