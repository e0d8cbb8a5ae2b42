package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/config"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sign makes a compact JWT of claims with key (kid "" for none).
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts.WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(sub string, exp time.Time, extra ...any) map[string]any {
	m := map[string]any{"sub": sub, "exp": exp.Unix(), "iat": time.Now().Add(-time.Minute).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func jwksJSON(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func newVerifier(t *testing.T, cfg config.JWT) *Verifier {
	t.Helper()
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "sub"
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = 300
	}
	v, err := New(cfg, nil, &auth.Tally{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeysOfEveryKind(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name  string
		file  []byte
		alg   jose.SignatureAlgorithm
		key   any
		kid   string
		valid bool
	}{
		{"rsa pem", pemPublic(t, &rsaKey.PublicKey), jose.RS256, rsaKey, "", true},
		{"pem, a token naming a key id", pemPublic(t, &rsaKey.PublicKey), jose.RS256, rsaKey, "issuer-key-7", true},
		{"rsa pss pem", pemPublic(t, &rsaKey.PublicKey), jose.PS384, rsaKey, "", true},
		{"rsa pkcs1 pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}), jose.RS512, rsaKey, "", true},
		{"ec certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), jose.ES256, ecKey, "", true},
		{"ed25519 pem", pemPublic(t, edPub), jose.EdDSA, edKey, "", true},
		{"jwks with kid", jwksJSON(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}), jose.RS256, rsaKey, "k1", true},
		{"jwks other kid", jwksJSON(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k1"}), jose.RS256, rsaKey, "k2", false},
		{"jwks other alg", jwksJSON(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "k1", Algorithm: "RS256"}), jose.PS256, rsaKey, "k1", false},
		{"wrong key", pemPublic(t, &ecKey.PublicKey), jose.RS256, rsaKey, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, config.JWT{Keys: []string{writeFile(t, "key", tc.file)}})
			id, err := v.Verify(sign(t, tc.alg, tc.key, tc.kid, claims("alice", exp)))
			if tc.valid != (err == nil) {
				t.Fatalf("valid %v, got err %v", tc.valid, err)
			}
			if err == nil && (id.Username != "alice" || id.Expires.Unix() != exp.Unix() || id.Grants != nil) {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestRefusedTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyFile := writeFile(t, "k.pem", pemPublic(t, &rsaKey.PublicKey))
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	hour := now.Add(time.Hour)
	cfg := config.JWT{Keys: []string{keyFile}, Issuer: "https://id.example.com/", Audience: "mqtt", RequireExpiry: true}
	good := claims("bob", hour, "iss", cfg.Issuer, "aud", "mqtt")
	v := newVerifier(t, cfg)
	if _, err := v.Verify(sign(t, jose.RS256, rsaKey, "", good)); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	// A token whose header says "none", with no signature.
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, _ := json.Marshal(good)
	unsigned := hdr + "." + base64.RawURLEncoding.EncodeToString(body) + "."
	// HS256 keyed with the public key's PEM: the algorithm confusion attack.
	confused := sign(t, jose.HS256, pemPublic(t, &rsaKey.PublicKey), "", good)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"expired", sign(t, jose.RS256, rsaKey, "", claims("bob", now.Add(-time.Second), "iss", cfg.Issuer, "aud", "mqtt")), "expired"},
		{"not yet valid", sign(t, jose.RS256, rsaKey, "", claims("bob", hour, "iss", cfg.Issuer, "aud", "mqtt", "nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"wrong issuer", sign(t, jose.RS256, rsaKey, "", claims("bob", hour, "iss", "https://evil/", "aud", "mqtt")), "issuer"},
		{"wrong audience", sign(t, jose.RS256, rsaKey, "", claims("bob", hour, "iss", cfg.Issuer, "aud", "web")), "audience"},
		{"no expiry", sign(t, jose.RS256, rsaKey, "", map[string]any{"sub": "bob", "iss": cfg.Issuer, "aud": "mqtt"}), "no expiry"},
		{"no subject", sign(t, jose.RS256, rsaKey, "", map[string]any{"exp": hour.Unix(), "iss": cfg.Issuer, "aud": "mqtt"}), `no "sub" claim`},
		{"other signer", sign(t, jose.RS256, other, "", good), "not verified"},
		{"unsigned", unsigned, "algorithm"},
		{"hmac with the public key", confused, "algorithm"},
		{"garbage", "a.b.c", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// HMAC, where a secret is configured; a short secret is refused.
	hs := newVerifier(t, config.JWT{SecretFile: writeFile(t, "s", append(secret, '\n')), RequireExpiry: true})
	if id, err := hs.Verify(sign(t, jose.HS256, secret, "", claims("carol", hour))); err != nil || id.Username != "carol" {
		t.Errorf("HS256: %v %+v", err, id)
	}
	if _, err := hs.Verify(sign(t, jose.RS256, rsaKey, "", claims("carol", hour))); err == nil {
		t.Error("an RS256 token verified with only a secret configured")
	}
	if _, err := New(config.JWT{SecretFile: writeFile(t, "s", []byte("short"))}, nil, nil, quiet); err == nil || !strings.Contains(err.Error(), "fewer than the 32") {
		t.Errorf("short secret: %v", err)
	}
	// Optional expiry, and leeway.
	lax := newVerifier(t, config.JWT{Keys: []string{keyFile}, Leeway: 30})
	if id, err := lax.Verify(sign(t, jose.RS256, rsaKey, "", map[string]any{"sub": "dan"})); err != nil || !id.Expires.IsZero() {
		t.Errorf("no exp, not required: %v %+v", err, id)
	}
	if _, err := lax.Verify(sign(t, jose.RS256, rsaKey, "", claims("dan", now.Add(-10*time.Second)))); err != nil {
		t.Errorf("expired 10 s ago with 30 s leeway: %v", err)
	}
}

func TestKeyFilesRefused(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	priv := jose.JSONWebKey{Key: rsaKey, KeyID: "p"}
	privJSON, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{priv}})
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"private pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "only public keys"},
		{"private jwk", privJSON, "not a public signing key"},
		{"empty", []byte("\n"), "no PEM public key"},
		{"bad json", []byte("{nope"), "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "key", tc.file)
			_, err := New(config.JWT{Keys: []string{path}}, nil, nil, quiet)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want an error naming the file with %q", err, tc.want)
			}
		})
	}
	if _, err := New(config.JWT{Keys: []string{"/nonexistent/key.pem"}}, nil, nil, quiet); err == nil || !strings.Contains(err.Error(), "/nonexistent/key.pem") {
		t.Errorf("missing file: %v", err)
	}
}

func TestACLClaim(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	v := newVerifier(t, config.JWT{Keys: []string{writeFile(t, "k", pemPublic(t, &key.PublicKey))}, ACLClaim: "acl"})
	exp := time.Now().Add(time.Hour)
	id, err := v.Verify(sign(t, jose.RS256, key, "", claims("eve", exp, "acl", map[string]any{
		"pub": []string{"devices/eve/#"},
		"sub": []string{"commands/eve/+"},
		"all": []string{"shared/x"},
	})))
	if err != nil {
		t.Fatal(err)
	}
	g := id.Grants
	for _, tc := range []struct {
		topic  string
		access auth.Access
		want   bool
	}{
		{"devices/eve/temp", auth.Write, true},
		{"devices/bob/temp", auth.Write, false},
		{"devices/eve/temp", auth.Read, false},
		{"commands/eve/reboot", auth.Read, true},
		{"commands/eve/+", auth.Subscribe, true},
		{"commands/#", auth.Subscribe, false},
		{"commands/eve/reboot", auth.Write, false},
		{"shared/x", auth.Write, true},
		{"shared/x", auth.Subscribe, true},
		{"anything", auth.Unsubscribe, true},
	} {
		if got := g.Check(tc.topic, tc.access); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.topic, tc.access, got, tc.want)
		}
	}
	// No claim: nothing granted. A malformed one: the token is refused.
	id, err = v.Verify(sign(t, jose.RS256, key, "", claims("eve", exp)))
	if err != nil || id.Grants == nil || id.Grants.Check("a", auth.Write) {
		t.Errorf("without the claim: %v %+v", err, id)
	}
	for _, bad := range []any{"devices/#", map[string]any{"pub": "x"}, map[string]any{"write": []string{"x"}}, map[string]any{"pub": []string{"a/#/b"}}, map[string]any{"sub": []any{1}}} {
		if _, err := v.Verify(sign(t, jose.RS256, key, "", claims("eve", exp, "acl", bad))); err == nil {
			t.Errorf("ACL claim %v accepted", bad)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	if tok := sign(t, jose.RS256, key, "", claims("x", time.Now())); !LooksLikeJWT(tok) {
		t.Errorf("%s does not look like a JWT", tok)
	}
	for _, pw := range []string{"", "secret", "a.b.c", "my.pass.word.long.enough", "eyJ.eyJ.x"} {
		if LooksLikeJWT(pw) {
			t.Errorf("%q looks like a JWT", pw)
		}
	}
}

// TestKeySetRotation serves a key set over HTTP and rotates it: a token
// signed with a new key is accepted once the set is fetched again (at
// once for an unknown key id, but not more than once per minRefetch), and
// a key removed from the set stops verifying at the next refresh. A
// failed fetch keeps the keys and is counted.
func TestKeySetRotation(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	var set atomic.Value
	set.Store(jwksJSON(t, jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1", Use: "sig"}))
	var fetches, failing atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if failing.Load() != 0 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(set.Load().([]byte))
	}))
	defer srv.Close()
	tally := &auth.Tally{}
	v, err := New(config.JWT{JWKSURL: srv.URL, JWKSRefresh: 60, UsernameClaim: "sub"}, srv.Client(), tally, quiet)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v.Now = func() time.Time { return now }
	exp := time.Now().Add(time.Hour)
	tok1 := sign(t, jose.RS256, k1, "k1", claims("a", exp))
	tok2 := sign(t, jose.RS256, k2, "k2", claims("a", exp))
	if _, err := v.Verify(tok1); err != nil {
		t.Fatal(err)
	}
	// The provider adds k2 and drops k1.
	set.Store(jwksJSON(t, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Use: "sig"}))
	if _, err := v.Verify(tok2); err == nil {
		t.Fatal("k2 accepted before minRefetch passed: the set was fetched on every unknown kid")
	}
	now = now.Add(minRefetch)
	if _, err := v.Verify(tok2); err != nil {
		t.Fatalf("k2 after the set was rotated: %v", err)
	}
	if _, err := v.Verify(tok1); err == nil {
		t.Fatal("k1 still accepted after it left the set")
	}
	// The provider goes down: the keys stay, the failure is counted.
	failing.Store(1)
	now = now.Add(2 * time.Minute)
	before := fetches.Load()
	if _, err := v.Verify(tok2); err != nil {
		t.Fatalf("k2 while the provider is down: %v", err)
	}
	if fetches.Load() == before || tally.Errors.Load() != 1 {
		t.Errorf("fetches %d -> %d, errors %d", before, fetches.Load(), tally.Errors.Load())
	}
}
