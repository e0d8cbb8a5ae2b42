//go:build !unix

package bridge

import "net"

// connPair returns the two ends of an in-memory pipe.
func connPair() (net.Conn, net.Conn, error) {
	a, b := net.Pipe()
	return a, b, nil
}
