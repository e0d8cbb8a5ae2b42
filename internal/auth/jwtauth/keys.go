package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// loadKeyFile reads a jwt_key file: PEM public keys and certificates (any
// number of blocks), or a JSON Web Key Set (or a single key) in JSON.
// Private keys are refused: the broker only verifies.
func loadKeyFile(path string) ([]jose.JSONWebKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to open jwt_key %s: %w", path, err)
	}
	keys, err := parseKeys(b)
	if err != nil {
		return nil, fmt.Errorf("jwt_key %s: %w", path, err)
	}
	return keys, nil
}

func parseKeys(b []byte) ([]jose.JSONWebKey, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return parseJWKS(t)
	}
	var keys []jose.JSONWebKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		var pub any
		var err error
		switch blk.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("a %q block: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (the broker needs only public keys)", blk.Type)
		}
		if err != nil {
			return nil, err
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("a %T key: want RSA, ECDSA or Ed25519", pub)
		}
		keys = append(keys, jose.JSONWebKey{Key: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key, certificate or JSON Web Key in it")
	}
	return keys, nil
}

// parseJWKS reads a JSON Web Key Set, or one JSON Web Key. Keys meant for
// encryption ("use": "enc") are left out; a private or symmetric key is
// an error.
func parseJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	var set jose.JSONWebKeySet
	if probe.Keys != nil {
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
		}
	} else {
		var k jose.JSONWebKey
		if err := json.Unmarshal(b, &k); err != nil {
			return nil, fmt.Errorf("not a JSON Web Key: %v", err)
		}
		set.Keys = []jose.JSONWebKey{k}
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("key %q is not a public signing key", k.KeyID)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no signing key in the key set")
	}
	return keys, nil
}
