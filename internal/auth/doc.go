// Package auth reads Mosquitto's password and ACL files and answers the two
// questions a broker asks of them: may this user log in with this password,
// and may this client read or write this topic.
//
// Both file formats are read exactly as Eclipse Mosquitto 2.0 reads them
// (src/security_default.c), quirks included, because a drop-in replacement
// must give the same answer for the same file. Where midge accepts more than
// Mosquitto 2.0 it is what Mosquitto 2.1 accepts ($argon2id$ hashes, 64-byte
// salts); it never accepts less, and it never falls back to weaker security.
//
// Everything here is immutable once parsed and safe for concurrent use.
// The package imports only the standard library and
// golang.org/x/crypto/argon2.
package auth
