package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hash algorithm names, as mosquitto_passwd -H spells them. Argon2id is
// Mosquitto 2.1's addition; Mosquitto 2.0 cannot read those hashes.
const (
	AlgSHA512       = "sha512"        // $6$: one SHA-512 of password||salt (Mosquitto 1.6)
	AlgSHA512PBKDF2 = "sha512-pbkdf2" // $7$: PBKDF2-HMAC-SHA512, Mosquitto 2.0's default
	AlgArgon2id     = "argon2id"      // $argon2id$ PHC string
)

// DefaultIterations is mosquitto_passwd 2.0's PBKDF2 iteration count
// (PW_DEFAULT_ITERATIONS). The count is stored in each hash, so files with
// more iterations are read by every Mosquitto 2.x as well.
const DefaultIterations = 101

const (
	saltLen    = 12 // mosquitto_passwd's SALT_LEN
	sha512Len  = 64 // both $6$ and $7$ store a 64-byte digest
	argonSalt  = 16
	argonKey   = 32
	argonTime  = 2     // OWASP's argon2id minimum with 19 MiB
	argonMem   = 19456 // KiB
	argonLanes = 1
)

type hashKind uint8

const (
	kindSHA512 hashKind = iota + 1
	kindPBKDF2
	kindArgon2id
)

// storedHash is a decoded password-file hash, ready to verify against.
type storedHash struct {
	kind       hashKind
	iterations int // PBKDF2 iterations or argon2 time cost
	memory     uint32
	lanes      uint8
	salt, sum  []byte
}

// Reasons a hash is refused. The texts follow Mosquitto's log lines.
var (
	errHashType   = errors.New("invalid password hash type")
	errHashFormat = errors.New("invalid password hash")
	errIterations = errors.New("invalid hash iterations")
	errSalt       = errors.New("unable to decode password salt")
	errDigest     = errors.New("unable to decode password")
	errArgon      = errors.New("invalid argon2id parameters")
)

// ValidateHash reports whether s is a password hash the broker accepts: a
// $6$ or $7$ hash as Mosquitto 2.0 reads it, or an $argon2id$ PHC string.
func ValidateHash(s string) error {
	_, err := parseHash(s)
	return err
}

// parseHash decodes s as unpwd__decode_passwords does: the fields are split
// with strtok(s, "$"), so empty fields vanish ("7$101$..." without the
// leading '$' is accepted) and fields after the digest are ignored.
func parseHash(s string) (storedHash, error) {
	f := fields(s, '$')
	if len(f) == 0 {
		return storedHash{}, errHashFormat
	}
	var h storedHash
	switch f[0] {
	case "6":
		h.kind = kindSHA512
		f = f[1:]
	case "7":
		h.kind = kindPBKDF2
		if len(f) < 2 {
			return storedHash{}, errHashFormat
		}
		h.iterations = atoi(f[1])
		if h.iterations < 1 {
			return storedHash{}, errIterations
		}
		f = f[2:]
	case "argon2id":
		return parseArgon2id(f[1:])
	default:
		return storedHash{}, errHashType
	}
	if len(f) < 1 {
		return storedHash{}, errHashFormat
	}
	salt, err := base64.StdEncoding.DecodeString(f[0])
	// 2.0 accepts only 12-byte salts; 2.1 also reads 64-byte ones.
	if err != nil || (len(salt) != saltLen && len(salt) != 64) {
		return storedHash{}, errSalt
	}
	if len(f) < 2 {
		return storedHash{}, errHashFormat
	}
	sum, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(sum) != sha512Len {
		return storedHash{}, errDigest
	}
	h.salt, h.sum = salt, sum
	return h, nil
}

// parseArgon2id decodes the fields after "argon2id" of a PHC string:
// v=19, m=..,t=..,p=.., then the salt and the digest in unpadded base64.
func parseArgon2id(f []string) (storedHash, error) {
	if len(f) < 4 || f[0] != "v=19" { // x/crypto implements version 0x13 only
		return storedHash{}, errArgon
	}
	h := storedHash{kind: kindArgon2id}
	var seen [3]bool
	for _, kv := range strings.Split(f[1], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return storedHash{}, errArgon
		}
		switch {
		case k == "m" && !seen[0]:
			seen[0], h.memory = true, uint32(n)
		case k == "t" && !seen[1] && n >= 1 && n <= math.MaxInt32:
			seen[1], h.iterations = true, int(n)
		case k == "p" && !seen[2] && n >= 1 && n <= math.MaxUint8:
			seen[2], h.lanes = true, uint8(n)
		default:
			return storedHash{}, errArgon
		}
	}
	// Memory is in KiB; the 4 GiB ceiling stops a typo from exhausting RAM
	// at every login.
	if !seen[0] || !seen[1] || !seen[2] || h.memory < 8*uint32(h.lanes) || h.memory > 4<<20 {
		return storedHash{}, errArgon
	}
	var err error
	if h.salt, err = decodePHC(f[2]); err != nil || len(h.salt) < 8 {
		return storedHash{}, errSalt
	}
	// libargon2 refuses outputs shorter than 4 bytes; the upper bound only
	// keeps a hostile file from making every login allocate without end.
	if h.sum, err = decodePHC(f[3]); err != nil || len(h.sum) < 4 || len(h.sum) > 1024 {
		return storedHash{}, errDigest
	}
	return h, nil
}

// decodePHC decodes PHC base64: standard alphabet without padding. Padding
// is tolerated because some generators add it.
func decodePHC(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// atoi is C's atoi as Mosquitto uses it for the iteration count: leading
// blanks, an optional sign, then digits up to the first non-digit ("101x"
// is 101, "x" is 0). Values beyond int32 are returned as -1 (invalid)
// rather than wrapped as C would.
func atoi(s string) int {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	n := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
		if n > math.MaxInt32 {
			return -1
		}
	}
	if neg {
		return -n
	}
	return n
}

// digest computes the hash of password with h's salt and parameters.
func (h *storedHash) digest(password string) []byte {
	switch h.kind {
	case kindSHA512:
		// Password first, then salt: common/password_mosq.c.
		d := sha512.New()
		d.Write([]byte(password))
		d.Write(h.salt)
		return d.Sum(nil)
	case kindPBKDF2:
		sum, err := pbkdf2.Key(sha512.New, password, h.salt, h.iterations, sha512Len)
		if err != nil { // only in FIPS-140 only mode with a short password
			return nil
		}
		return sum
	case kindArgon2id:
		return argon2.IDKey([]byte(password), h.salt, uint32(h.iterations), h.memory, h.lanes, uint32(len(h.sum)))
	}
	return nil
}

// verify reports whether password matches, comparing in constant time.
func (h *storedHash) verify(password string) bool {
	d := h.digest(password)
	return d != nil && subtle.ConstantTimeCompare(d, h.sum) == 1
}

// HashPassword hashes password for a password file with a fresh random
// salt. alg is AlgSHA512PBKDF2 (what mosquitto_passwd writes by default),
// AlgSHA512 (readable by Mosquitto 1.6) or AlgArgon2id (Mosquitto 2.1 and
// midge only). iterations is the PBKDF2 iteration count or the argon2id
// time cost; zero or less picks the default (DefaultIterations for PBKDF2).
// It is ignored for AlgSHA512, which has none.
func HashPassword(password, alg string, iterations int) (string, error) {
	enc := base64.StdEncoding
	switch alg {
	case AlgSHA512, AlgSHA512PBKDF2:
		h := storedHash{kind: kindSHA512, salt: make([]byte, saltLen)}
		if alg == AlgSHA512PBKDF2 {
			h.kind = kindPBKDF2
			h.iterations = DefaultIterations
			if iterations > 0 {
				h.iterations = iterations
			}
		}
		rand.Read(h.salt)
		sum := h.digest(password)
		if sum == nil {
			return "", fmt.Errorf("auth: unable to hash password with %s", alg)
		}
		if h.kind == kindSHA512 {
			return "$6$" + enc.EncodeToString(h.salt) + "$" + enc.EncodeToString(sum), nil
		}
		return fmt.Sprintf("$7$%d$%s$%s", h.iterations, enc.EncodeToString(h.salt), enc.EncodeToString(sum)), nil
	case AlgArgon2id:
		h := storedHash{kind: kindArgon2id, iterations: argonTime, memory: argonMem, lanes: argonLanes,
			salt: make([]byte, argonSalt), sum: make([]byte, argonKey)}
		if iterations > 0 {
			h.iterations = iterations
		}
		rand.Read(h.salt)
		sum := h.digest(password)
		raw := base64.RawStdEncoding
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.memory, h.iterations, h.lanes,
			raw.EncodeToString(h.salt), raw.EncodeToString(sum)), nil
	}
	return "", fmt.Errorf("auth: unknown hash algorithm %q", alg)
}
