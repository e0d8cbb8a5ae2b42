package listener

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/midge-mqtt/midge/internal/config"
)

// openSocket binds the listener's socket(s): a unix socket, or TCP on the
// bind address, host name or interface the config gives.
func openSocket(ctx context.Context, l *config.Listener, rewrite func([]bindAddr) []bindAddr) (net.Listener, error) {
	if l.Port == 0 {
		if l.UnixSocket == "" {
			return nil, errors.New("listener has neither a port nor a unix socket path")
		}
		return listenUnix(ctx, l.UnixSocket)
	}
	addrs, err := bindAddresses(ctx, l)
	if err != nil {
		return nil, err
	}
	if rewrite != nil {
		addrs = rewrite(addrs)
	}
	var lc net.ListenConfig
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := lc.Listen(ctx, a.network, a.addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newFanIn(lns), nil
}

type bindAddr struct{ network, addr string }

// bindAddresses works out what to bind, as Mosquitto 2.0 does:
//   - bind_interface: the interface's first address of each family allowed
//     by socket_domain (Mosquitto 2.0 uses getifaddrs and binds that
//     address instead of SO_BINDTODEVICE, so it needs no root). A
//     bind_address, if given too, must be one of the interface's addresses.
//   - a host name: every address it resolves to (getaddrinfo), so
//     "localhost" listens on 127.0.0.1 and ::1.
//   - an IP address, or nothing (all interfaces, IPv4 and IPv6).
func bindAddresses(ctx context.Context, l *config.Listener) ([]bindAddr, error) {
	network := "tcp"
	switch l.SocketDomain {
	case "ipv4":
		network = "tcp4"
	case "ipv6":
		network = "tcp6"
	}
	port := strconv.Itoa(l.Port)
	if l.BindInterface != "" {
		return interfaceAddresses(l, network, port)
	}
	host := l.BindAddress
	if host == "" {
		return []bindAddr{{network, net.JoinHostPort("", port)}}, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return []bindAddr{{network, net.JoinHostPort(host, port)}}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, ipNetwork(network), host)
	if err != nil {
		return nil, fmt.Errorf("bind address %s: %w", host, err)
	}
	var out []bindAddr
	for _, ip := range ips {
		ip = ip.Unmap()
		out = append(out, bindAddr{network, net.JoinHostPort(ip.String(), port)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bind address %s: no address for socket_domain %s", host, l.SocketDomain)
	}
	return out, nil
}

func ipNetwork(tcp string) string {
	switch tcp {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

func interfaceAddresses(l *config.Listener, network, port string) ([]bindAddr, error) {
	ifi, err := net.InterfaceByName(l.BindInterface)
	if err != nil {
		return nil, fmt.Errorf("interface %s does not exist: %w", l.BindInterface, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", l.BindInterface, err)
	}
	var want netip.Addr
	if l.BindAddress != "" {
		if want, err = netip.ParseAddr(l.BindAddress); err != nil {
			return nil, fmt.Errorf("bind_interface %s with bind address %q: give an IP address", l.BindInterface, l.BindAddress)
		}
	}
	var v4, v6 *bindAddr
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if want.IsValid() && ip != want.Unmap() {
			continue
		}
		if ip.Is6() && ip.IsLinkLocalUnicast() {
			ip = ip.WithZone(ifi.Name)
		}
		b := bindAddr{network, net.JoinHostPort(ip.String(), port)}
		switch {
		case ip.Is4() && v4 == nil && network != "tcp6":
			b.network = "tcp4"
			v4 = &b
		case ip.Is6() && v6 == nil && network != "tcp4":
			b.network = "tcp6"
			v6 = &b
		}
	}
	var out []bindAddr
	for _, b := range []*bindAddr{v4, v6} {
		if b != nil {
			out = append(out, *b)
		}
	}
	if len(out) == 0 {
		if want.IsValid() {
			return nil, fmt.Errorf("interface address for %s does not match specified listener address (%s)", l.BindInterface, l.BindAddress)
		}
		return nil, fmt.Errorf("interface %s has no address for socket_domain %q", l.BindInterface, l.SocketDomain)
	}
	return out, nil
}

// listenUnix binds a unix socket. Like Mosquitto it removes a socket file
// left behind by a previous run first, but unlike Mosquitto (which unlinks
// whatever is there) it refuses to delete anything that is not a socket, so
// a typo cannot destroy a regular file. The socket is made 0770, the mode
// Mosquitto's umask(0007) around bind gives it.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("unix socket %s: the path exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unix socket %s: removing the stale socket: %w", path, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o770); err != nil {
		ln.Close()
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	return ln, nil
}

// fanIn merges several bound sockets (one per address of a host name or an
// interface) into one net.Listener, as Mosquitto serves one listener on
// several sockets. One goroutine per socket waits in Accept.
type fanIn struct {
	lns   []net.Listener
	conns chan acceptResult
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

type acceptResult struct {
	c   net.Conn
	err error
}

func newFanIn(lns []net.Listener) *fanIn {
	f := &fanIn{lns: lns, conns: make(chan acceptResult), done: make(chan struct{})}
	for _, ln := range lns {
		f.wg.Add(1)
		go f.acceptLoop(ln)
	}
	return f
}

func (f *fanIn) acceptLoop(ln net.Listener) {
	defer f.wg.Done()
	for {
		c, err := ln.Accept()
		select {
		case f.conns <- acceptResult{c, err}:
		case <-f.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (f *fanIn) Accept() (net.Conn, error) {
	select {
	case r := <-f.conns:
		return r.c, r.err
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *fanIn) Close() error {
	var err error
	f.once.Do(func() {
		close(f.done)
		for _, ln := range f.lns {
			if e := ln.Close(); e != nil && err == nil {
				err = e
			}
		}
		f.wg.Wait()
	})
	return err
}

func (f *fanIn) Addr() net.Addr { return f.lns[0].Addr() }
