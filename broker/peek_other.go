//go:build !unix

package broker

// peekByte: without a non-blocking peek on the socket, the bytes a
// connection has not read yet are not seen; the order gate and a session
// takeover then go by what the readers have seen (see order.go).
func (c *conn) peekByte() (b byte, ok bool) { return 0, false }
