package listener

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/config"
)

// roundTrip dials ln, writes a few bytes and checks the accepted conn reads
// them and that its RemoteAddr is the dialer's address.
func roundTrip(t *testing.T, ln net.Listener, network, addr string) {
	t.Helper()
	accepted := acceptOne(t, ln)
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := waitConn(t, accepted)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if network != "unix" && s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("RemoteAddr = %v, want %v", s.RemoteAddr(), c.LocalAddr())
	}
}

func TestTCP(t *testing.T) {
	tests := []struct {
		name, bind, domain, network string
	}{
		{"ipv4 address", "127.0.0.1", "", "tcp4"},
		{"ipv4 domain", "127.0.0.1", "ipv4", "tcp4"},
		{"ipv6 address", "::1", "", "tcp6"},
		{"ipv6 domain", "::1", "ipv6", "tcp6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testListener()
			l.BindAddress, l.SocketDomain = tc.bind, tc.domain
			ln, err := openErr(t, l)
			if err != nil {
				if strings.Contains(tc.bind, ":") {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			roundTrip(t, ln, tc.network, ln.Addr().String())
		})
	}
}

func TestSocketDomainMismatch(t *testing.T) {
	l := testListener()
	l.BindAddress, l.SocketDomain = "127.0.0.1", "ipv6"
	if _, err := openErr(t, l); err == nil {
		t.Fatal("binding an IPv4 address with socket_domain ipv6 succeeded")
	}
}

func TestHostNameBindsEveryAddress(t *testing.T) {
	addrs, err := bindAddresses(context.Background(), &config.Listener{Port: 1883, BindAddress: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) == 0 {
		t.Fatal("no addresses for localhost")
	}
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a.addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || port != "1883" {
			t.Errorf("localhost resolved to %s", a.addr)
		}
	}
	v4, err := bindAddresses(context.Background(), &config.Listener{Port: 1883, BindAddress: "localhost", SocketDomain: "ipv4"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range v4 {
		if !strings.HasPrefix(a.addr, "127.") {
			t.Errorf("socket_domain ipv4 gave %s", a.addr)
		}
	}

	// Both loopbacks (when this host has ::1) served by one Listener.
	l := testListener()
	l.BindAddress = "localhost"
	ln := open(t, l)
	roundTrip(t, ln, "tcp", ln.Addr().String())
}

func TestFanInServesEverySocket(t *testing.T) {
	a, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFanIn([]net.Listener{a, b})
	defer f.Close()
	roundTrip(t, f, "tcp", a.Addr().String())
	roundTrip(t, f, "tcp", b.Addr().String())
	f.Close()
	if _, err := f.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func TestBindInterface(t *testing.T) {
	lo := loopbackInterface(t)
	l := testListener()
	l.BindAddress, l.BindInterface, l.SocketDomain = "", lo, "ipv4"
	ln := open(t, l)
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if host != "127.0.0.1" {
		t.Fatalf("bound %s, want the interface's address 127.0.0.1", ln.Addr())
	}
	roundTrip(t, ln, "tcp", ln.Addr().String())

	l.BindInterface = "no-such-interface0"
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown interface: err = %v", err)
	}
	l.BindInterface, l.BindAddress = lo, "192.0.2.1"
	if _, err := openErr(t, l); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("address not on the interface: err = %v", err)
	}
}

func loopbackInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sock")
	l := &config.Listener{UnixSocket: path, Protocol: "mqtt"}

	// A stale socket from an earlier run is replaced, as Mosquitto does.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	ln := open(t, l)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o770 {
		t.Errorf("socket mode %v, want 0770", st.Mode().Perm())
	}
	roundTrip(t, ln, "unix", path)
	ln.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

func TestUnixSocketRefusesToDeleteAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "important.txt")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openErr(t, &config.Listener{UnixSocket: path, Protocol: "mqtt", File: "m.conf", Line: 7})
	if err == nil || !strings.Contains(err.Error(), "not a socket") || !strings.HasPrefix(err.Error(), "m.conf:7: ") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Fatal("the file was touched")
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		l    config.Listener
		want string
	}{
		{config.Listener{Port: 1883}, "Opening listen socket on port 1883."},
		{config.Listener{Port: 1883, SocketDomain: "ipv4"}, "Opening ipv4 listen socket on port 1883."},
		{config.Listener{Port: 1883, SocketDomain: "ipv6"}, "Opening ipv6 listen socket on port 1883."},
		{config.Listener{Port: 1883, BindAddress: "127.0.0.1"}, "Opening ipv4 listen socket on port 1883."},
		{config.Listener{Port: 1884, BindAddress: "::1"}, "Opening ipv6 listen socket on port 1884."},
		{config.Listener{Port: 8080, Protocol: "websockets"}, "Opening websockets listen socket on port 8080."},
		{config.Listener{UnixSocket: "/run/m.sock"}, "Opening unix listen socket on path /run/m.sock."},
	}
	for _, tc := range tests {
		if got := Describe(&tc.l); got != tc.want {
			t.Errorf("Describe(%+v) = %q, want %q", tc.l, got, tc.want)
		}
	}
}

func TestRefusedOptions(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Listener)
		want string
	}{
		{"psk", func(l *config.Listener) { l.TLS.PSKHint = "hint" }, "TLS-PSK"},
		{"proxy protocol", func(l *config.Listener) { l.EnableProxyProtocol = 2 }, "proxy"},
		{"half TLS", func(l *config.Listener) { l.TLS.CertFile = "x.pem" }, "certfile and keyfile"},
		{"http_dir on mqtt", func(l *config.Listener) { l.HTTPDir = t.TempDir() }, "http_dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testListener()
			tc.edit(l)
			_, err := openErr(t, l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
