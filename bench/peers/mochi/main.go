// Command mochi runs mochi-mqtt with its default options, one TCP
// listener and every client allowed, for bench/compare.
package main

import (
	"fmt"
	"log/slog"
	"os"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/midge-mqtt/midge/bench/peers/conf"
)

func main() {
	addr, err := conf.Args("mochi-mqtt", "github.com/mochi-mqtt/server/v2")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s := mqtt.New(&mqtt.Options{Logger: log})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(1)
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{Type: "tcp", ID: "t1", Address: addr})); err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(1)
	}
	if err := s.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(1)
	}
	conf.Wait()
	s.Close()
}
