//go:build unix

// Command lbcluster stands in for a broker binary with a cluster of midge
// nodes behind a round-robin TCP load balancer, so that a conformance suite
// written for one broker runs against a cluster: it takes Mosquitto's
// command line (-c FILE, -p PORT, -v), starts the nodes on free loopback
// ports with the file's listeners moved there and the cluster options
// added, waits until they have formed the cluster, and then listens where
// the one broker would have, handing each new connection to the next node.
//
//	MIDGE=/path/to/midge lbcluster -v -c test.conf
//
// MIDGE names the midge binary (default: midge on PATH), LBCLUSTER_NODES
// the number of nodes (default 3). The nodes' output goes to stderr and
// stdout as one broker's would; SIGTERM, SIGINT, SIGHUP and SIGUSR1/2 go to
// every node, and the exit status is the first node's.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const clusterName = "lbsuite"

// frontend is one address the single broker would have listened on, and
// the port each node listens on instead.
type frontend struct {
	host  string // "" for every interface
	port  int
	nodes []int // node i's port
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	midge := os.Getenv("MIDGE")
	if midge == "" {
		midge = "midge"
	}
	n := 3
	if s := os.Getenv("LBCLUSTER_NODES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			fmt.Fprintf(os.Stderr, "lbcluster: LBCLUSTER_NODES=%q is not a node count\n", s)
			return 2
		}
		n = v
	}
	var pass []string // flags every node gets as given
	var confFile string
	var ports []int
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-c", "--config-file":
			if i+1 < len(args) {
				i++
				confFile = args[i]
				continue
			}
		case "-p", "--port":
			if i+1 < len(args) {
				if p, err := strconv.Atoi(args[i+1]); err == nil {
					i++
					ports = append(ports, p)
					continue
				}
			}
		}
		pass = append(pass, args[i]) // midge reports what it does not take
	}

	work, err := os.MkdirTemp("", "lbcluster-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
		return 1
	}
	defer os.RemoveAll(work)

	var text []string
	if confFile != "" {
		b, err := os.ReadFile(confFile)
		if err != nil {
			// midge says why, as it would have with the one broker.
			return runPlain(midge, args)
		}
		text = strings.Split(string(b), "\n")
	}
	routes := make([]int, n)
	for i := range routes {
		if routes[i], err = freePort(); err != nil {
			fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
			return 1
		}
	}
	var given []int // the nodes' ports, in the order rewrite asks for them
	alloc := func() func() (int, error) {
		i := 0
		return func() (int, error) {
			if i == len(given) {
				p, err := freePort()
				if err != nil {
					return 0, err
				}
				given = append(given, p)
			}
			i++
			return given[i-1], nil
		}
	}
	fronts, flagged, nodeConfs, err := rewrite(text, ports, n, alloc())
	if err != nil {
		fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
		return 1
	}
	confPath := func(i int) string { return filepath.Join(work, fmt.Sprintf("n%d.conf", i+1)) }
	clusterLines := func(i int) []string {
		lines := []string{
			"cluster_name " + clusterName,
			fmt.Sprintf("cluster_node_name n%d", i+1),
			fmt.Sprintf("cluster_listen 127.0.0.1:%d", routes[i]),
			// Replicated sessions wait for JetStream's first stream,
			// made seconds after the nodes meet: longer than the
			// suite gives a fresh broker for each test.
			"cluster_replicas 1",
		}
		for j, r := range routes {
			if j != i {
				lines = append(lines, fmt.Sprintf("cluster_peer 127.0.0.1:%d", r))
			}
		}
		return lines
	}
	writeConfs := func(confs [][]string) error {
		for i := range confs {
			body := strings.Join(append(clusterLines(i), confs[i]...), "\n") + "\n"
			if err := os.WriteFile(confPath(i), []byte(body), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if dbFile != "" {
		if _, err := os.Stat(dbFile); err != nil {
			for _, f := range nodeFiles(n) {
				os.RemoveAll(f)
			}
		}
		defer func() {
			if f, err := os.OpenFile(dbFile, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}()
	}
	// Readable by the user the nodes drop to when started as root.
	if err := os.Chmod(work, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
		return 1
	}
	if err := writeConfs(nodeConfs); err != nil {
		fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
		return 1
	}
	cmds := make([]*exec.Cmd, n)
	joined := make(chan int, n*n)
	exited := make(chan int, n)
	var out sync.Mutex // one line at a time on our stderr
	for i := range cmds {
		conf := confPath(i)
		nodeArgs := append([]string{}, pass...)
		for _, f := range fronts[:flagged] {
			nodeArgs = append(nodeArgs, "-p", strconv.Itoa(f.nodes[i]))
		}
		cmd := exec.Command(midge, append(nodeArgs, "-c", conf)...)
		cmd.Stdout = os.Stdout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
			return 1
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
			return 1
		}
		cmds[i] = cmd
		go func() {
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				line := sc.Text()
				if strings.Contains(line, "Cluster "+clusterName+": node ") && strings.HasSuffix(line, " joined.") {
					joined <- i
				}
				out.Lock()
				fmt.Fprintln(os.Stderr, line)
				out.Unlock()
			}
			io.Copy(io.Discard, stderr)
			exited <- i
		}()
	}
	stop := func(sig os.Signal) int {
		for _, c := range cmds {
			c.Process.Signal(sig)
		}
		codes := make([]int, n)
		for i, c := range cmds {
			c.Wait()
			codes[i] = c.ProcessState.ExitCode()
		}
		return codes[0]
	}

	// Formed when every node has seen every other join; a node whose log
	// does not show it (log_dest or log_type set otherwise) is given five
	// seconds.
	need := make([]int, n)
	formed := 0
	deadline := time.After(5 * time.Second)
	for formed < n && n > 1 {
		select {
		case i := <-joined:
			if need[i]++; need[i] == n-1 {
				formed++
			}
		case i := <-exited:
			// A node that cannot start: the one broker would not have either.
			cmds[i].Wait()
			code := cmds[i].ProcessState.ExitCode()
			stop(syscall.SIGTERM)
			return code
		case <-deadline:
			formed = n
		}
	}

	var lns []net.Listener
	for _, f := range fronts {
		ls, err := listen(f.host, f.port)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lbcluster: %v\n", err)
			stop(syscall.SIGTERM)
			return 1
		}
		for _, ln := range ls {
			lns = append(lns, ln)
			go serve(ln, f.nodes)
		}
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				for _, ln := range lns {
					ln.Close()
				}
				return stop(sig)
			}
			if sig == syscall.SIGHUP && confFile != "" {
				// The nodes reload the file as it is now, on the same ports.
				if b, err := os.ReadFile(confFile); err == nil {
					if _, _, confs, err := rewrite(strings.Split(string(b), "\n"), ports, n, alloc()); err == nil {
						writeConfs(confs)
					}
				}
			}
			for _, c := range cmds {
				c.Process.Signal(sig)
			}
		case i := <-exited:
			// A node went on its own: so does the broker.
			for _, ln := range lns {
				ln.Close()
			}
			fmt.Fprintf(os.Stderr, "lbcluster: node n%d exited\n", i+1)
			code := stop(syscall.SIGTERM)
			if code == 0 {
				code = 1
			}
			return code
		}
	}
}

// runPlain runs midge itself, for a command line the wrapper cannot read.
func runPlain(midge string, args []string) int {
	cmd := exec.Command(midge, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// rewrite moves the configuration's network listeners (or the -p ports)
// to a free loopback port per node, and returns where the load balancer
// listens (the first flagged of them given to the nodes as -p ports) and
// each node's configuration lines.
//
// alloc gives the nodes' ports: the same ones, in the same order, when the
// file is read again for a reload.
func rewrite(text []string, ports []int, n int, alloc func() (int, error)) (fronts []frontend, flagged int, confs [][]string, err error) {
	confs = make([][]string, n)
	newFront := func(host string, port int) (*frontend, error) {
		f := frontend{host: host, port: port, nodes: make([]int, n)}
		for i := range f.nodes {
			p, err := alloc()
			if err != nil {
				return nil, err
			}
			f.nodes[i] = p
		}
		fronts = append(fronts, f)
		return &fronts[len(fronts)-1], nil
	}
	if len(text) == 0 || len(ports) > 0 {
		if len(ports) == 0 {
			ports = []int{1883} // midge's default, on loopback
		}
		for _, p := range ports {
			if _, err := newFront("localhost", p); err != nil {
				return nil, 0, nil, err
			}
		}
		flagged = len(fronts)
		if len(text) == 0 {
			return fronts, flagged, confs, nil
		}
	}
	// The default listener's bind_address applies to its `port`.
	bind := ""
	for _, line := range text {
		fs := strings.Fields(line)
		if len(fs) >= 2 && fs[0] == "bind_address" {
			bind = fs[1]
		}
	}
	// Each node keeps its own store, as the nodes of a cluster do.
	persistFile, persistent := "", false
	for _, line := range text {
		fs := strings.Fields(line)
		if len(fs) == 2 && fs[0] == "persistence" && fs[1] == "true" {
			persistent = true
		}
	}
	for _, line := range text {
		fs := strings.Fields(line)
		var f *frontend
		switch {
		case len(fs) == 2 && fs[0] == "persistence_file":
			persistFile = fs[1]
			for i := range confs {
				confs[i] = append(confs[i], fmt.Sprintf("persistence_file %s.n%d", fs[1], i+1))
			}
			continue
		case len(fs) >= 2 && fs[0] == "listener":
			port, perr := strconv.Atoi(fs[1])
			if perr != nil || port == 0 { // a unix socket, or midge's error to report
				break
			}
			host := ""
			if len(fs) >= 3 {
				host = fs[2]
			}
			if f, err = newFront(host, port); err != nil {
				return nil, 0, nil, err
			}
			for i := range confs {
				confs[i] = append(confs[i], fmt.Sprintf("listener %d 127.0.0.1", f.nodes[i]))
			}
			continue
		case len(fs) == 2 && fs[0] == "port":
			port, perr := strconv.Atoi(fs[1])
			if perr != nil {
				break
			}
			if f, err = newFront(bind, port); err != nil {
				return nil, 0, nil, err
			}
			for i := range confs {
				confs[i] = append(confs[i], fmt.Sprintf("port %d", f.nodes[i]))
			}
			continue
		case len(fs) >= 2 && fs[0] == "bind_address":
			for i := range confs {
				confs[i] = append(confs[i], "bind_address 127.0.0.1")
			}
			continue
		}
		for i := range confs {
			confs[i] = append(confs[i], line)
		}
	}
	if persistent && persistFile == "" {
		persistFile = "mosquitto.db"
		for i := range confs {
			confs[i] = append(confs[i], fmt.Sprintf("persistence_file mosquitto.db.n%d", i+1))
		}
	}
	if persistent {
		dbFile = persistFile
		for _, line := range text {
			if fs := strings.Fields(line); len(fs) == 2 && fs[0] == "persistence_location" {
				dbFile = filepath.Join(fs[1], persistFile)
			}
		}
	}
	return fronts, flagged, confs, nil
}

// dbFile is the persistence file the one broker would have written ("":
// no persistence). The nodes keep theirs beside it (FILE.n1, ...), and
// stand for it: a suite that removed it between two starts gets nodes
// that start empty, and it exists once the nodes have stopped.
var dbFile string

// nodeFiles are the files node stores may have left for dbFile.
func nodeFiles(n int) []string {
	var out []string
	for i := range n {
		base := fmt.Sprintf("%s.n%d", dbFile, i+1)
		out = append(out, base, base+".midge", base+".midge.old", base+".cluster")
	}
	return out
}

// listen opens host:port as the one broker would have: every interface for
// "", and every address of a name.
func listen(host string, port int) ([]net.Listener, error) {
	if host == "" {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, err
		}
		return []net.Listener{ln}, nil
	}
	addrs, err := net.LookupHost(host)
	if err != nil {
		return nil, err
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			if len(addrs) > 1 {
				continue // ::1 on a machine without IPv6
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, fmt.Errorf("cannot listen on %s:%d", host, port)
	}
	return lns, nil
}

var next atomic.Uint64 // the node the next connection goes to, over every listener

func serve(ln net.Listener, nodes []int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		i := int(next.Add(1)-1) % len(nodes)
		go splice(c, nodes[i])
	}
}

// splice carries one connection to a node and back, passing each side's
// end of stream on to the other.
func splice(c net.Conn, port int) {
	defer c.Close()
	b, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(b, c)
		b.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, b)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
