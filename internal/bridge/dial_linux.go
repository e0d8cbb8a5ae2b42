package bridge

import (
	"os"
	"syscall"
)

// haveUserTimeout reports whether bridge_tcp_user_timeout can be set here.
const haveUserTimeout = true

// tcpUserTimeout is TCP_USER_TIMEOUT of linux/tcp.h, the same on every
// architecture (the syscall package lacks it on some).
const tcpUserTimeout = 18

// setUserTimeout sets how long, in milliseconds, data sent on socket fd
// may stay unacknowledged before the kernel closes the connection.
func setUserTimeout(fd uintptr, ms int) error {
	return os.NewSyscallError("setsockopt", syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, ms))
}
