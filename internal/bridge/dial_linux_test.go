package bridge

import (
	"net"
	"syscall"
	"testing"
)

// TestDialerSocketOptions: bridge_tcp_keepalive and bridge_tcp_user_timeout
// reach the remote connection's socket.
func TestDialerSocketOptions(t *testing.T) {
	ln := remoteListener(t)
	cfg := bridgeConfig(t, ln.Addr().String(), "topic x out", "bridge_tcp_keepalive 7 3 4", "bridge_tcp_user_timeout 2500")[0]
	b := &Bridge{cfg: cfg}
	d := b.dialer()
	nc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		level, opt int
		value      int
	}{
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 7},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 3},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 4},
		{"TCP_USER_TIMEOUT", syscall.IPPROTO_TCP, tcpUserTimeout, 2500},
	}
	for _, w := range want {
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), w.level, w.opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil || got != w.value {
			t.Errorf("%s = %d, %v; want %d", w.name, got, gerr, w.value)
		}
	}
}
