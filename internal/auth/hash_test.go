package auth

import (
	"strings"
	"testing"
)

// goldenHashes were written by the real tools: mosquitto_passwd 2.0.11
// (Debian 2.0.11-1.2+deb12u2) for $6$ and $7$, and the reference argon2 CLI
// (Debian argon2 0~20171227) for $argon2id$.
var goldenHashes = []struct {
	name, hash, password string
}{
	// mosquitto_passwd -c -b pw.txt alice secret (reference/mosquitto.md)
	{"pbkdf2 101", "$7$101$dZayo11B9ioQGKTk$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg==", "secret"},
	// -H sha512
	{"sha512", "$6$X2LrdOhqRg/H18DO$TDNc2klJl9CQrZg1khf8316UCfC1NuroTbvSQN6oC3Jpk6fBcH7ZzSMS+8KkcKoK7jcsmXrulaPivWo+JiYFAQ==", "secret"},
	// -I 1000
	{"pbkdf2 1000", "$7$1000$//fzm5UYWccE3ZhJ$8pFceo4pvvldZGubyJJnZjbmEzxffvLLgd/r9plJN8/Bld8OOSGroSg+q1IZQNj/M2qAK2lPQ6N2pBDJOk77Bw==", "secret"},
	{"pbkdf2 1", "$7$1$htxH2anxb7XLzM26$3w8JQ52OXi+62qKEtDa+BNu9UGQl1I4reAQlgT7402hcK0D7EiKkSisQI/zOTP2BLZfPcr4SRA9LhEAoJJ+bwA==", "x"},
	{"pbkdf2 5000 spaces", "$7$5000$VNrSMRZCvm5yxsn+$nvOhFuzL/qsN0xqdy5AYsLWRlRO7b3RtJPf8WMBwMWWW9TM4kEWO6VC/0WGsa7Jq2MWDJvotgs+6I11CCpdtUg==", "correct horse battery staple"},
	{"sha512 utf8", "$6$lW7NFkXrEDYjBYN4$x+xwSwXvyUF2y/sCIx1AkqC4LpT3SCGFGbg5i4p9FNtC5EOsCkUsXE2pGqF4WZYYML/HKNpbhRsKe6n5wDCNOA==", "pässwörd"},
	{"sha512 empty", "$6$AbxN6aQapXEV5qcd$chATSIzQXWaYh+1AkIKgOh+0XXaehIdoTufvelpdFXkZU/cWUChwmi8X2OlKc7ypaMTL1yPYAZWBdDNQdxDTeA==", ""},
	// Piped "a b \n" twice to the prompt: the trailing blank is kept.
	{"prompt trailing blank", "$7$101$h+UbVdert4gm6jYj$EB8jM4vL4oSStxY3LAcnEpQa32+6d9dDFZJ1rYIlu6OQ1iZrVXhpx1movoAWusSMPlREb8Lq6zsBj+g86WX/BA==", "a b "},
	// echo -n secret | argon2 somesaltsalt -id -t 2 -m 10 -p 2 -l 32 -e
	{"argon2id", "$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", "secret"},
	// echo -n pässwörd | argon2 0123456789abcdef -id -t 3 -k 4096 -p 1 -l 16 -e
	{"argon2id 16-byte", "$argon2id$v=19$m=4096,t=3,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MjGo+YfksqVrAK/GOREtUQ", "pässwörd"},
}

func TestGoldenHashes(t *testing.T) {
	for _, tc := range goldenHashes {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseHash(tc.hash)
			if err != nil {
				t.Fatalf("parseHash: %v", err)
			}
			if !h.verify(tc.password) {
				t.Errorf("right password %q refused", tc.password)
			}
			for _, wrong := range []string{tc.password + "x", strings.ToUpper(tc.password) + "!", ""} {
				if wrong != tc.password && h.verify(wrong) {
					t.Errorf("wrong password %q accepted", wrong)
				}
			}
		})
	}
}

func TestParseHashRejects(t *testing.T) {
	good := "$7$101$dZayo11B9ioQGKTk$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
	salt16 := "$7$101$fDsO5mUAiV7IQYia6xAfIQ==$8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
	for _, tc := range []struct {
		hash string
		want error
	}{
		{"", errHashFormat},
		{"$$$", errHashFormat},
		{"secret", errHashType},             // plain text
		{"$5$abc$def", errHashType},         // crypt(3) sha256
		{"$2y$10$abcdefghijk", errHashType}, // bcrypt
		{"$7$", errHashFormat},
		{"$7$0$dZayo11B9ioQGKTk$x", errIterations},
		{"$7$-5$dZayo11B9ioQGKTk$x", errIterations},
		{"$7$abc$dZayo11B9ioQGKTk$x", errIterations},
		{"$7$99999999999$dZayo11B9ioQGKTk$x", errIterations},
		{"$7$101$dZayo11B9ioQGKTk", errHashFormat},
		{"$7$101$not*base64$x", errSalt},
		{salt16, errSalt}, // mosquitto 2.0.11: "Unable to decode password salt"
		{strings.TrimRight(good, "="), errDigest},
		{good[:len(good)-6] + "AAAA", errDigest}, // 63 bytes
		{"$6$dZayo11B9ioQGKTk", errHashFormat},
		{"$argon2id$v=16$m=1024,t=2,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=1024,t=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=1024,t=0,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=1024,t=2,p=2,m=1$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=8,t=2,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=99999999,t=2,p=2$c29tZXNhbHRzYWx0$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errArgon},
		{"$argon2id$v=19$m=1024,t=2,p=2$c29t$rJmbI1NL11Ib97COl2k/vaDQuQz/ENhOxKY4FQdkQOA", errSalt},
		{"$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzYWx0$rJm", errDigest},
		{"$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzYWx0", errArgon},
		{"$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", errHashType},
	} {
		if _, err := parseHash(tc.hash); err != tc.want {
			t.Errorf("parseHash(%q) = %v, want %v", tc.hash, err, tc.want)
		}
		if err := ValidateHash(tc.hash); err == nil {
			t.Errorf("ValidateHash(%q) accepted it", tc.hash)
		}
	}
}

// TestParseHashQuirks pins what Mosquitto's strtok/atoi parsing accepts,
// each checked against mosquitto 2.0.11 with a login.
func TestParseHashQuirks(t *testing.T) {
	const salt, sum = "dZayo11B9ioQGKTk", "8b4W0BlzQxvwBcArgr8eZ5Kz1Iu8l264ZR43q0Kz7oES/nWWIExZtOM9O1ISl+rWJUvvLfk5atR9e9xPj2K7Lg=="
	for _, hash := range []string{
		"7$101$" + salt + "$" + sum,            // no leading '$'
		"$$7$$101$$" + salt + "$$" + sum,       // empty fields vanish
		"$7$101$" + salt + "$" + sum + "$junk", // trailing fields ignored
		"$7$101x$" + salt + "$" + sum,          // atoi("101x") = 101
		"$7$+101$" + salt + "$" + sum,          // atoi("+101") = 101
	} {
		h, err := parseHash(hash)
		if err != nil {
			t.Errorf("parseHash(%q): %v", hash, err)
			continue
		}
		if !h.verify("secret") {
			t.Errorf("parseHash(%q) does not verify", hash)
		}
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		alg    string
		iter   int
		prefix string
	}{
		{AlgSHA512PBKDF2, 0, "$7$101$"},
		{AlgSHA512PBKDF2, 1000, "$7$1000$"},
		{AlgSHA512, 0, "$6$"},
		{AlgSHA512, 50, "$6$"},
		{AlgArgon2id, 0, "$argon2id$v=19$m=19456,t=2,p=1$"},
		{AlgArgon2id, 3, "$argon2id$v=19$m=19456,t=3,p=1$"},
	} {
		for _, pw := range []string{"secret", "", "pässwörd", strings.Repeat("x", 1000)} {
			s, err := HashPassword(pw, tc.alg, tc.iter)
			if err != nil {
				t.Fatalf("HashPassword(%s): %v", tc.alg, err)
			}
			if !strings.HasPrefix(s, tc.prefix) {
				t.Errorf("HashPassword(%s, %d) = %q, want prefix %q", tc.alg, tc.iter, s, tc.prefix)
			}
			h, err := parseHash(s)
			if err != nil {
				t.Fatalf("parseHash(%q): %v", s, err)
			}
			if !h.verify(pw) || h.verify(pw+"x") {
				t.Errorf("%s: round trip of %q failed", tc.alg, pw)
			}
			if tc.alg != AlgArgon2id && len(h.salt) != saltLen {
				t.Errorf("salt is %d bytes, mosquitto 2.0 wants %d", len(h.salt), saltLen)
			}
		}
	}
	a, _ := HashPassword("same", AlgSHA512PBKDF2, 0)
	b, _ := HashPassword("same", AlgSHA512PBKDF2, 0)
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if _, err := HashPassword("x", "md5", 0); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

func TestAtoi(t *testing.T) {
	for s, want := range map[string]int{
		"101": 101, " 7": 7, "+5": 5, "-3": -3, "12ab": 12, "": 0, "x": 0, "2147483647": 2147483647, "2147483648": -1,
	} {
		if got := atoi(s); got != want {
			t.Errorf("atoi(%q) = %d, want %d", s, got, want)
		}
	}
}
