// Command nats runs nats-server with its MQTT listener (which needs
// JetStream, kept in a temporary directory) and default options
// otherwise, for bench/compare.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/midge-mqtt/midge/bench/peers/conf"
)

func main() {
	addr, err := conf.Args("nats-server", "github.com/nats-io/nats-server/v2")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats:", err)
		os.Exit(2)
	}
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	store, err := os.MkdirTemp("", "nats-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(store)
	opts := &server.Options{
		ServerName: "bench",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		MQTT:       server.MQTTOpts{Host: host, Port: port},
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats:", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats: not ready in 30 s")
		os.Exit(1)
	}
	conf.Wait()
	s.Shutdown()
	s.WaitForShutdown()
}
