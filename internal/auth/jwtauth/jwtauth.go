// Package jwtauth verifies JSON Web Tokens that MQTT clients present as
// their password or with MQTT 5 enhanced authentication (methods JWT and
// OAUTH2): the signature against configured public keys, a JSON Web Key
// Set (a file, or a URL fetched and refreshed), or an HMAC secret; the
// time claims; the issuer and audience; and it maps claims to a username
// and, optionally, to topic rights.
package jwtauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/config"
)

// Identity is what a valid token says about its client.
type Identity struct {
	Username string
	// Expires is the token's exp claim; zero if it has none.
	Expires time.Time
	// Grants are the topic rights of the ACL claim; nil when no ACL claim
	// is configured, and the other rules decide.
	Grants *auth.Grants
}

// Verifier checks tokens. It is immutable but for the cache of a key set
// fetched from a URL, and safe for concurrent use.
type Verifier struct {
	cfg    config.JWT
	tally  *auth.Tally
	keys   []jose.JSONWebKey // from jwt_key files and jwt_secret_file
	remote *remoteSet        // jwt_jwks_url
	algs   []jose.SignatureAlgorithm
	// Now is the clock; tests replace it.
	Now func() time.Time
}

var (
	asymmetricAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	hmacAlgs       = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}
)

// New loads the keys cfg names. A key file that cannot be read or parsed
// is an error; a key set URL that cannot be fetched now is not (it is
// logged and tried again when a token needs it), so that the broker
// serves its other clients while an identity provider is down. client
// fetches the URL; tally counts failed fetches.
func New(cfg config.JWT, client *http.Client, tally *auth.Tally, log *slog.Logger) (*Verifier, error) {
	if tally == nil {
		tally = &auth.Tally{}
	}
	v := &Verifier{cfg: cfg, tally: tally, Now: time.Now}
	for _, path := range cfg.Keys {
		keys, err := loadKeyFile(path)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, keys...)
	}
	if len(cfg.Keys) > 0 || cfg.JWKSURL != "" {
		v.algs = append(v.algs, asymmetricAlgs...)
	}
	if cfg.SecretFile != "" {
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("unable to open jwt_secret_file %s: %w", cfg.SecretFile, err)
		}
		secret := bytes.TrimRight(b, "\r\n")
		if len(secret) < 32 {
			return nil, fmt.Errorf("jwt_secret_file %s: the secret has %d bytes, fewer than the 32 HS256 needs", cfg.SecretFile, len(secret))
		}
		v.keys = append(v.keys, jose.JSONWebKey{Key: secret})
		v.algs = append(v.algs, hmacAlgs...)
	}
	if cfg.JWKSURL != "" {
		v.remote = newRemoteSet(cfg.JWKSURL, time.Duration(cfg.JWKSRefresh)*time.Second, client, tally, log)
		v.remote.refresh(time.Now())
	}
	return v, nil
}

// LooksLikeJWT reports whether a password has the shape of a signed JWT
// (three base64url parts, the first a JSON header), so that other
// passwords go to the other rules without being refused as bad tokens.
func LooksLikeJWT(s string) bool {
	if strings.Count(s, ".") != 2 || len(s) < 16 {
		return false
	}
	head, _, _ := strings.Cut(s, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	return err == nil && len(b) > 0 && b[0] == '{' && bytes.Contains(b, []byte(`"alg"`))
}

// Verify checks a token and returns its identity, or why it is refused.
func (v *Verifier) Verify(token string) (*Identity, error) {
	id, err := v.verify(token)
	if err != nil {
		v.tally.Count(auth.Deny)
	} else {
		v.tally.Count(auth.Allow)
	}
	return id, err
}

func (v *Verifier) verify(token string) (*Identity, error) {
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed token or algorithm not accepted: %v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("a token must have one signature")
	}
	h := tok.Headers[0]
	var std jwt.Claims
	var raw map[string]any
	verified := false
	for _, k := range v.candidates(h) {
		if tok.Claims(k.Key, &std, &raw) == nil {
			verified = true
			break
		}
	}
	if !verified {
		if h.KeyID != "" {
			return nil, fmt.Errorf("signature not verified by any key with id %q", h.KeyID)
		}
		return nil, errors.New("signature not verified by any key")
	}
	now := v.Now()
	exp := jwt.Expected{Issuer: v.cfg.Issuer, Time: now}
	if v.cfg.Audience != "" {
		exp.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	if err := std.ValidateWithLeeway(exp, time.Duration(v.cfg.Leeway)*time.Second); err != nil {
		return nil, err
	}
	id := &Identity{}
	if std.Expiry != nil {
		id.Expires = std.Expiry.Time().Add(time.Duration(v.cfg.Leeway) * time.Second)
	} else if v.cfg.RequireExpiry {
		return nil, errors.New("the token has no expiry (exp) claim")
	}
	name, ok := raw[v.cfg.UsernameClaim].(string)
	if !ok || name == "" {
		return nil, fmt.Errorf("no %q claim with a username", v.cfg.UsernameClaim)
	}
	id.Username = name
	if v.cfg.ACLClaim != "" {
		if id.Grants, err = grantsFrom(raw[v.cfg.ACLClaim]); err != nil {
			return nil, fmt.Errorf("claim %q: %v", v.cfg.ACLClaim, err)
		}
	}
	return id, nil
}

// candidates are the keys that may have signed a token with header h:
// those with its key id (all of them if it has none) or with none (a PEM
// file's, a secret) whose algorithm, when the key names one, is the
// token's. An unknown key id makes the
// remote set look for new keys first (a rotation).
func (v *Verifier) candidates(h jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	pick := func(keys []jose.JSONWebKey) {
		for _, k := range keys {
			if (h.KeyID == "" || k.KeyID == "" || k.KeyID == h.KeyID) && (k.Algorithm == "" || k.Algorithm == h.Algorithm) {
				out = append(out, k)
			}
		}
	}
	pick(v.keys)
	if v.remote != nil {
		pick(v.remote.keysFor(h.KeyID, v.Now()))
	}
	return out
}

// grantsFrom reads an ACL claim: an object whose "pub" lists the filters
// the client may publish to, "sub" those it may subscribe to (and receive
// from), and "all" both. A missing claim grants nothing.
func grantsFrom(claim any) (*auth.Grants, error) {
	if claim == nil {
		return auth.NewGrants(nil, nil)
	}
	obj, ok := claim.(map[string]any)
	if !ok {
		return nil, errors.New(`want an object with "pub", "sub" and "all" lists of topic filters`)
	}
	lists := map[string][]string{}
	for key, val := range obj {
		if key != "pub" && key != "sub" && key != "all" {
			return nil, fmt.Errorf("unknown key %q", key)
		}
		arr, ok := val.([]any)
		if !ok {
			return nil, fmt.Errorf("%q is not a list", key)
		}
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%q holds a %T, not a topic filter", key, e)
			}
			lists[key] = append(lists[key], s)
		}
	}
	pub := append(lists["pub"], lists["all"]...)
	sub := append(lists["sub"], lists["all"]...)
	return auth.NewGrants(pub, sub)
}
