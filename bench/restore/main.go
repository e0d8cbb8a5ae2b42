// Command restore measures how long midge takes to start on a large
// store: it fills a pebble store with retained messages and persistent
// sessions (each with subscriptions and queued QoS 1 messages), then times
// the broker's Restore and reports the memory it took.
//
//	go run ./bench/restore -retained 1000000 -sessions 10000
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/store/pebblestore"
)

func main() {
	retained := flag.Int("retained", 1_000_000, "retained messages to store")
	sessions := flag.Int("sessions", 10_000, "persistent sessions to store")
	queued := flag.Int("queued", 10, "QoS 1 messages queued per session")
	payload := flag.Int("payload", 64, "payload bytes")
	dir := flag.String("dir", "", "store directory (default: a temporary one, removed afterwards)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "midge-restore-")
		check(err)
		defer os.RemoveAll(d)
		*dir = d
	}

	t0 := time.Now()
	st, err := pebblestore.Open(*dir, pebblestore.Options{NoSync: true}) // filling only
	check(err)
	// Distinct random payloads: incompressible, as real ones mostly are.
	body := func() []byte {
		b := make([]byte, *payload)
		rand.Read(b)
		return b
	}
	ops := make([]store.Op, 0, 1000)
	flush := func(force bool) {
		if len(ops) == cap(ops) || force && len(ops) > 0 {
			check(st.Apply(context.Background(), ops...))
			ops = ops[:0]
		}
	}
	for i := range *retained {
		ops = append(ops, store.PutRetained(&store.Message{Topic: fmt.Sprintf("site/%d/dev/%d/temp", i/1000, i%1000), Payload: body(), QoS: 1, Retain: true}))
		flush(false)
	}
	for i := range *sessions {
		id := fmt.Sprintf("client-%d", i)
		ops = append(ops, store.PutSession(&store.Session{ClientID: id, ProtocolVersion: 4, ExpiryInterval: store.ExpiryNever,
			DisconnectedAt: time.Now(), Subscriptions: []store.Subscription{
				{Filter: fmt.Sprintf("cmd/%d/#", i), QoS: 1}, {Filter: "broadcast/+", QoS: 1}}}))
		for q := range *queued {
			ops = append(ops, store.PutOutgoing(id, &store.Outgoing{Seq: uint64(q + 1), QoS: 1,
				Message: store.Message{Topic: fmt.Sprintf("cmd/%d/x", i), Payload: body(), QoS: 1}}))
		}
		flush(false)
	}
	flush(true)
	check(st.Close())
	disk := dirSize(*dir)
	msgs := *retained + *sessions**queued
	fmt.Printf("filled %d retained messages, %d sessions with %d queued messages each in %v; %d bytes on disk (%d per message)\n",
		*retained, *sessions, *queued, time.Since(t0).Round(time.Millisecond), disk, disk/int64(max(msgs, 1)))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t1 := time.Now()
	st, err = pebblestore.Open(*dir, pebblestore.Options{})
	check(err)
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	opts.Store = st
	srv := broker.New(opts)
	check(srv.Restore())
	took := time.Since(t1)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("start-up (open + restore): %v, %d sessions; heap %.0f MB after GC\n",
		took.Round(time.Millisecond), srv.SessionCount(), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	srv.Close()
	check(st.Close())
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "restore:", err)
		os.Exit(1)
	}
}
