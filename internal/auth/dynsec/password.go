package dynsec

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
)

// A client's password is kept as Mosquitto's dynsec keeps it: PBKDF2 with
// HMAC-SHA512, a 12-byte random salt and a 64-byte key, stored in the
// file as base64 "password" and "salt" with the "iterations" count. New
// passwords get 101 iterations, Mosquitto 2.0's PW_DEFAULT_ITERATIONS;
// the count read from a file is used as it is.
const (
	saltLen           = 12
	hashLen           = 64
	defaultIterations = 101
)

type password struct {
	hash       [hashLen]byte
	salt       [saltLen]byte
	iterations int
}

// newPassword hashes pw with a fresh salt. Like the plugin, which passes
// the password to OpenSSL as a C string, it hashes only the bytes before
// a NUL.
func newPassword(pw string) (*password, error) {
	p := &password{iterations: defaultIterations}
	if _, err := rand.Read(p.salt[:]); err != nil {
		return nil, err
	}
	sum, err := p.derive(pw)
	if err != nil {
		return nil, err
	}
	copy(p.hash[:], sum)
	return p, nil
}

func (p *password) derive(pw string) ([]byte, error) {
	return pbkdf2.Key(sha512.New, cString(pw), p.salt[:], p.iterations, hashLen)
}

// matches reports whether pw is the password, comparing in constant time.
func (p *password) matches(pw []byte) bool {
	sum, err := p.derive(string(pw))
	return err == nil && subtle.ConstantTimeCompare(sum, p.hash[:]) == 1
}

var (
	errSalt       = errors.New("invalid salt: not base64 of 12 bytes")
	errHash       = errors.New("invalid password: not base64 of 64 bytes")
	errIterations = errors.New("invalid iterations: must be at least 1")
)

// decodePassword reads the three fields of a client in the file.
func decodePassword(hash64, salt64 string, iterations int) (*password, error) {
	if iterations < 1 {
		return nil, errIterations
	}
	p := &password{iterations: iterations}
	if !decodeExact(p.salt[:], salt64) {
		return nil, errSalt
	}
	if !decodeExact(p.hash[:], hash64) {
		return nil, errHash
	}
	return p, nil
}

// decodeExact decodes standard, padded base64 into dst, which it must
// fill exactly.
func decodeExact(dst []byte, s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(dst) {
		return false
	}
	copy(dst, b)
	return true
}

func (p *password) encodedHash() string { return base64.StdEncoding.EncodeToString(p.hash[:]) }
func (p *password) encodedSalt() string { return base64.StdEncoding.EncodeToString(p.salt[:]) }
